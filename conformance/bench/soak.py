"""`make soak`: consecutive core-profile runs with faults injected into the environment.

Round 0 runs without faults and is the yardstick. Every later round kills the reference server
(SIGKILL) or stops the registry at a random moment of its run and brings it back a few seconds later
(same port, same database or storage). Afterwards each item is compared with round 0:
  identical  the same status as in round 0
  affected   ERROR where round 0 had another status (the fault hit it: the right answer)
  wrong      any other difference (a PASS or FAIL the fault made up: a defect)
and the backend is searched for what a round left behind (functions of the round's run id, probe
processes). The goal is 0 wrong and 0 left behind. A benchmark, not a test: it takes a while.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from conformance.bench.common import report
from conformance.env import manager, process
from conformance.env.config import EnvConfig
from conformance.env.local_registry import LocalRegistry, free_port
from conformance.env.reference_server import ReferenceServer
from conformance.env.registry import RegistryEndpoint
from conformance.paths import REPORTS, ROOT
from conformance.target.config import REFERENCE_TUNING

FAULTS = ("reference-killed", "registry-restarted")
OUTAGE_SECONDS = {"reference-killed": 3.0, "registry-restarted": 6.0}


@dataclass
class Round:
    index: int
    fault: str | None
    statuses: dict[str, str] = field(default_factory=dict)  # nodeid → status
    exit_code: int = 0
    seconds: float = 0.0
    fault_at: float | None = None
    leftovers: list[str] = field(default_factory=list)


class Soak:
    """The environment of the soak: a cluster, a registry it can restart, a reference it can kill."""

    def __init__(self, home: Path, workers: str) -> None:
        self.home = home
        self.workers = workers
        self.env: dict[str, Any] = {}
        self.registry: LocalRegistry | None = None
        self.server: ReferenceServer | None = None
        self.port = free_port()

    # ── the parts ────────────────────────────────────────────────────────────────────────────────

    def up(self) -> None:
        self.env = manager.up(EnvConfig(cluster_name="nvcf-soak", reference=False))
        reg = self.env["registry"]
        endpoint = RegistryEndpoint(reg["address"], reg["username"], reg["password"])
        # The registry is taken over from `env up`: the soak must be able to stop and restart it.
        recorded = next(p for p in self.env["processes"] if p["name"] == "registry")
        process.stop(process.ProcessRecord.from_dict(recorded))
        port = int(endpoint.address.rsplit(":", 1)[1])
        self.registry = LocalRegistry(Path(self.env["run_dir"]) / "registry", endpoint.username, port,
                                      endpoint.password)
        self.registry.start()
        self.start_reference()

    def start_reference(self) -> None:
        assert self.registry is not None
        # A fixed port: the runs' target config must stay valid across restarts.
        self.server = ReferenceServer(self.home / "reference", Path(self.env["kubeconfig"]), self.registry.endpoint,
                                      ["--port", str(self.port)])
        self.server.start(timeout=90)

    def down(self) -> None:
        if self.server is not None and self.server.record is not None:
            process.stop(self.server.record)
        if self.registry is not None:
            self.registry.stop()
        manager.down()

    def inject(self, fault: str) -> None:
        """Break one part now and bring it back after its outage."""
        if fault == "reference-killed":
            assert self.server is not None and self.server.record is not None
            if process.is_ours(self.server.record):
                os.kill(self.server.record.pid, 9)
            time.sleep(OUTAGE_SECONDS[fault])
            self.start_reference()
        else:
            assert self.registry is not None
            self.registry.stop()
            time.sleep(OUTAGE_SECONDS[fault])
            self.registry.start()

    # ── one round ────────────────────────────────────────────────────────────────────────────────

    def target(self) -> Path:
        assert self.server is not None and self.registry is not None
        tokens = json.loads((self.home / "reference" / "tokens.json").read_text())["tokens"]
        reg = self.registry.endpoint
        data = {
            "implementation": {"name": "nvcf-conformance reference (soak)"},
            "nvcf": {"gateway": f"127.0.0.1:{self.port}",
                     "token": next(t for t, v in tokens.items() if v["name"] == "admin"),
                     "api_key": next(t for t, v in tokens.items() if v["name"] == "api-key")},
            "registry": {"address": reg.address, "username": reg.username, "password": reg.password},
            "kubeconfig": str(self.env["kubeconfig"]),
            **REFERENCE_TUNING,
            "gpu_shapes": [{"gpu": n["gpuProduct"], "gpus_per_node": n["gpus"], "nodes": n["count"]}
                           for n in self.env.get("nodes") or [] if n.get("gpus")],
        }
        path = self.home / "target.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        path.chmod(0o600)
        return path

    def run(self, index: int, fault: str | None, rng: random.Random) -> Round:
        result = Round(index, fault)
        report_dir = self.home / f"round-{index:02d}"
        cmd = [sys.executable, "-m", "conformance.cli", "run", "--target-config", str(self.target()),
               "--run-id", f"soak-{index:02d}-{rng.randrange(16 ** 4):04x}", "--report-dir", str(report_dir),
               "-n", self.workers]
        clean = {k: v for k, v in os.environ.items() if not k.startswith("NVCF_") and k != "KUBECONFIG"}
        started = time.monotonic()
        log = open(self.home / f"round-{index:02d}.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(cmd, cwd=ROOT, env=clean, stdout=log, stderr=subprocess.STDOUT)
        if fault is not None:
            delay = rng.uniform(60.0, 140.0)  # while the tests run: the first minute builds and pushes charts
            timer = threading.Timer(delay, self.inject, args=(fault,))
            timer.start()
            result.fault_at = round(delay, 1)
        result.exit_code = proc.wait()
        log.close()
        if fault is not None:
            timer.join()
        result.seconds = round(time.monotonic() - started, 1)
        for path in sorted((report_dir / "results").glob("results-*.jsonl")):
            for line in path.read_text().splitlines():
                item = json.loads(line)
                result.statuses[item["nodeid"]] = item["status"]
        result.leftovers = self.left_behind(cmd[cmd.index("--run-id") + 1])
        return result

    def left_behind(self, run_id: str) -> list[str]:
        """Functions of this round still on the backend, and probe processes still recorded."""
        target = yaml.safe_load((self.home / "target.yaml").read_text())
        found: list[str] = []
        try:
            reply = httpx.get(f"http://127.0.0.1:{self.port}/v2/nvcf/functions", timeout=30,
                              headers={"Authorization": f"Bearer {target['nvcf']['token']}"})
            found += [f"function {f.get('id')} ({f.get('name')})" for f in reply.json().get("functions", [])
                      if run_id in str(f.get("name"))]
        except (httpx.HTTPError, ValueError) as exc:
            found.append(f"could not list functions: {exc}")
        probes = self.home / "reference" / "backend" / "probes" / ".pids"
        found += [f"probe record {p.name}" for p in probes.glob("*")] if probes.is_dir() else []
        return found


def compare(base: Round, other: Round) -> Counter[str]:
    counts: Counter[str] = Counter()
    for nodeid, status in other.statuses.items():
        before = base.statuses.get(nodeid)
        if before == status:
            counts["identical"] += 1
        elif status == "ERROR":
            counts["affected"] += 1
        else:
            counts["wrong"] += 1
            print(f"  WRONG round {other.index} ({other.fault}): {nodeid}: {before} → {status}")
    counts["missing"] = len(set(base.statuses) - set(other.statuses))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds with a fault (default 10), after round 0")
    parser.add_argument("-n", dest="workers", default="4", help="workers per run (default 4)")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="random seed of the fault times")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    figures: dict[str, Any] = {"seed": args.seed, "rounds": args.rounds}
    # The rounds' reports stay (reports/bench/soak/round-NN): a figure without its evidence is no figure.
    home = REPORTS / "bench" / "soak"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        os.environ["NVCF_RUN_DIR"] = str(Path(tmp) / "run")
        soak = Soak(home, args.workers)
        rounds: list[Round] = []
        try:
            soak.up()
            for index in range(args.rounds + 1):
                fault = None if index == 0 else FAULTS[(index - 1) % len(FAULTS)]
                done = soak.run(index, fault, rng)
                rounds.append(done)
                print(f"round {index}: {fault or 'no fault'} (at {done.fault_at} s), {len(done.statuses)} items, "
                      f"exit {done.exit_code}, {done.seconds} s, left behind: {len(done.leftovers)}", flush=True)
        finally:
            soak.down()
        totals: Counter[str] = Counter()
        for other in rounds[1:]:
            totals.update(compare(rounds[0], other))
        figures.update({
            "items_per_round": len(rounds[0].statuses) if rounds else 0,
            "round0_statuses": dict(Counter(rounds[0].statuses.values())) if rounds else {},
            "identical": totals["identical"], "affected_error": totals["affected"], "wrong": totals["wrong"],
            "missing_items": totals["missing"],
            "left_behind": sum(len(r.leftovers) for r in rounds),
            "left_behind_detail": [f"round {r.index}: {x}" for r in rounds for x in r.leftovers][:20],
            "round_seconds": [r.seconds for r in rounds],
        })
    return report("soak", figures, {
        "0 wrong verdicts": lambda f: f["wrong"] == 0,
        "0 left behind": lambda f: f["left_behind"] == 0,
        "round 0 (no fault) conformant": lambda f: bool(rounds) and rounds[0].exit_code == 0,
    })


if __name__ == "__main__":
    sys.exit(main())
