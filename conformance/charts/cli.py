"""`nvcf-conformance charts build|push|list`."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from conformance.charts import manifest, naming, oci, pipeline
from conformance.charts.cases import load_cases
from conformance.charts.pipeline import BuildReport
from conformance.charts.prune import prune
from conformance.env.registry import RegistryEndpoint
from conformance.errors import ConfigError, ConformanceError

DEFAULT_PASSWORD_ENV = "NVCF_REGISTRY_PASSWORD"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    charts = sub.add_parser("charts", help="sample charts: build, lint, package, push to an OCI registry, list")
    actions = charts.add_subparsers(dest="charts_command", metavar="ACTION", required=True)

    build = actions.add_parser("build", help="materialise, lint and package the case charts (cached)")
    _common(build)
    build.add_argument("--image", metavar="REPO:TAG", help="probe image the charts run (default from the base chart)")
    build.add_argument("--verify", action="store_true", help="also render every chart and check it against its overlay")
    build.set_defaults(func=_build)

    push = actions.add_parser("push", help="build, then push the charts to an OCI registry (cached)")
    _common(push)
    push.add_argument("--image", metavar="REPO:TAG", help="probe image the charts run (default from the base chart)")
    _registry_options(push)
    push.set_defaults(func=_push)

    prune_cmd = actions.add_parser(
        "prune", help="delete one run's charts from the registry (runs keep them by default, for repro bundles)")
    prune_cmd.add_argument("--run-id", required=True, help="the run whose repository is emptied")
    _registry_options(prune_cmd)
    prune_cmd.set_defaults(func=_prune)

    lst = actions.add_parser("list", help="the cases with chart, version, digest, helmChart URL and rule ids")
    _common(lst)
    lst.add_argument("--registry", metavar="ADDRESS", help="registry host:port for the helmChart URLs")
    lst.add_argument("--repository", help=f"repository under the registry (default {naming.DEFAULT_REPOSITORY}/RUN_ID)")
    lst.set_defaults(func=_list)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--run-id",
        help=f"run id stamped into every chart's labels (default ${naming.RUN_ID_ENV} or {naming.DEFAULT_RUN_ID!r})",
    )
    parser.add_argument(
        "--case", dest="cases", nargs="+", action="extend", metavar="ID", help="only these cases (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--no-twins", action="store_true", help="leave out the fixed twins of the refused cases (built by default)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default .run/charts, or $NVCF_RUN_DIR/charts)")


def _registry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry", metavar="ADDRESS", help="registry host:port (default: the embedded environment's registry)"
    )
    parser.add_argument("--registry-username", metavar="USER", help="registry user (required with --registry)")
    parser.add_argument(
        "--registry-password-env",
        metavar="VAR",
        default=DEFAULT_PASSWORD_ENV,
        help=f"environment variable holding the registry password (default {DEFAULT_PASSWORD_ENV})",
    )
    parser.add_argument(
        "--repository", help=f"repository under the registry (default {naming.DEFAULT_REPOSITORY}/RUN_ID)"
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--plain-http", dest="plain_http", action="store_const", const=True, help="talk plain HTTP")
    tls.add_argument("--tls", dest="plain_http", action="store_const", const=False, help="talk HTTPS")


def _say(message: str) -> None:
    print(f"[charts] {message}", file=sys.stderr, flush=True)


def _out(args: argparse.Namespace) -> Path:
    return (args.out or pipeline.default_out()).resolve()


def registry_from_args(args: argparse.Namespace) -> RegistryEndpoint:
    """The registry from --registry/--registry-username/--registry-password-env, else from `env status`."""
    if args.registry:
        if not args.registry_username:
            raise ConfigError("--registry-username is required with --registry")
        password = os.environ.get(args.registry_password_env)
        if password is None:
            raise ConfigError(
                f"--registry-password-env: the environment variable {args.registry_password_env} is not set"
            )
        return RegistryEndpoint(args.registry, args.registry_username, password)
    try:
        from conformance.env import state
    except ImportError:
        raise ConformanceError(
            "no --registry given and the embedded environment is not available: pass --registry, "
            "--registry-username and --registry-password-env"
        ) from None
    status = state.load_status()
    reg = status.get("registry") if isinstance(status, dict) else None
    if not isinstance(reg, dict) or not all(isinstance(reg.get(k), str) for k in ("address", "username", "password")):
        raise ConformanceError(
            "the embedded environment reports no registry (see `nvcf-conformance env status`); pass --registry"
        )
    return RegistryEndpoint(reg["address"], reg["username"], reg["password"])


def _prune(args: argparse.Namespace) -> int:
    registry = registry_from_args(args)
    repository = naming.repository(args.repository, naming.run_id(args.run_id))
    address = naming.registry_address(registry.address, args.plain_http)
    try:
        pruned = prune(oci.Registry(address, registry.username, registry.password), repository)
    except oci.RegistryProblem as exc:
        raise ConformanceError(f"pruning {repository} on {address.host_port} failed: {exc}") from None
    print(f"{address.host_port}/{repository}: {pruned.manifests} manifest(s) deleted in "
          f"{pruned.repositories} repositor{'y' if pruned.repositories == 1 else 'ies'}")
    if pruned.refused:
        print(f"the registry refused to delete {len(pruned.refused)} (are deletes enabled?): {pruned.refused[0]}",
              file=sys.stderr)
        return 1
    return 0


def _build_cases(args: argparse.Namespace, registry: str | None = None) -> tuple[BuildReport, Path]:
    """Build the selected cases; with a `registry`, the probe image is pulled from it (unless --image)."""
    run_id = naming.run_id(args.run_id)
    out = _out(args)
    cases = load_cases(args.cases, twins=not args.no_twins)
    image = args.image or naming.probe_image(registry)
    report = pipeline.build(cases, run_id, out, image=image)
    _say(
        f"run {run_id}: {len(report.charts)} charts, {report.built} built, {report.cached} from cache "
        f"({report.seconds:.1f} s) in {out}"
    )
    return report, out


def _build(args: argparse.Namespace) -> int:
    # A build keeps the registry the run's manifest already points at (and so the probe image pulled
    # from it): unchanged charts stay byte-identical and their pushed digests survive.
    previous = manifest.load(_out(args), naming.run_id(args.run_id)) or {}
    report, out = _build_cases(args, previous.get("registry"))
    registry, repository = previous.get("registry"), naming.repository(previous.get("repository"), report.run_id)
    rules = manifest.rules_by_case()
    entries = [
        manifest.case_entry(
            chart.case, registry=registry, repository=repository, rules=rules.get(chart.case.id, []), built=chart
        )
        for chart in report.charts
    ]
    data = manifest.update(
        out, report.run_id, entries, registry=registry, repository=repository, helm_version=report.helm_version
    )
    problems = _verify(report, out) if args.verify else []
    if args.json:
        cached = {c.case.id: c.cached for c in report.charts}
        selected = [{**e, "cached": cached[e["case"]]} for e in data["charts"] if e["case"] in cached]
        _print_json(data, selected, extra={"built": report.built, "seconds": round(report.seconds, 3)})
    else:
        for chart in report.charts:
            if not chart.cached:
                print(f"built  {chart.case.id:<48} {chart.package.name}")
        print(
            f"{report.built} built, {report.cached} from cache; manifest {manifest.manifest_path(out, report.run_id)}"
        )
    for problem in problems:
        print(f"verify: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _verify(report: BuildReport, out: Path) -> list[str]:
    from conformance.charts import render, verify

    helm = pipeline.helm_for(out)
    rendered = render.render_many(helm, [chart.chart_dir for chart in report.charts])
    problems = []
    for chart in report.charts:
        result = rendered[chart.chart_dir]
        found = verify.expectation_problems(chart.case, result) + verify.label_problems(
            chart.case, result, report.run_id
        )
        rerender = functools.partial(_rerender, helm, chart.chart_dir)
        if chart.case.twin_of:
            found += verify.twin_problems(chart.case, result, rerender)
        elif (trips := verify.violations(chart.case, result, rerender)) != set(chart.case.violates):
            found.append(f"trips {sorted(trips)}, the overlay's violates is {sorted(chart.case.violates)}")
        problems += [f"{chart.case.id}: {p}" for p in found]
    return problems


def _rerender(helm: Any, chart_dir: Path, release: str, namespace: str) -> Any:
    from conformance.charts import render

    return render.render(helm, chart_dir, release=release, namespace=namespace)


def _push(args: argparse.Namespace) -> int:
    from conformance.charts.push import push

    endpoint = registry_from_args(args)
    address = naming.registry_address(endpoint.address, args.plain_http)
    report, out = _build_cases(args, address.host_port)
    repository = naming.repository(args.repository, report.run_id)
    pushed = push(report.charts, endpoint, out, repository=repository, plain_http=address.plain_http)
    _say(
        f"pushed {sum(not p.cached for p in pushed)} to {naming.oci_base(address.host_port, repository)}, "
        f"{sum(p.cached for p in pushed)} already there"
    )
    rules = manifest.rules_by_case()
    by_case = {p.case_id: p for p in pushed}
    entries = [
        manifest.case_entry(
            chart.case,
            registry=address.host_port,
            repository=repository,
            rules=rules.get(chart.case.id, []),
            built=chart,
            pushed=by_case[chart.case.id],
        )
        for chart in report.charts
    ]
    data = manifest.update(
        out,
        report.run_id,
        entries,
        registry=address.host_port,
        repository=repository,
        helm_version=report.helm_version,
    )
    if args.json:
        selected = [e for e in data["charts"] if e["case"] in by_case]
        _print_json(data, selected)
    else:
        _print_table(e for e in data["charts"] if e["case"] in by_case)
    return 0


def _list(args: argparse.Namespace) -> int:
    run_id = naming.run_id(args.run_id)
    out = _out(args)
    cases = load_cases(args.cases, twins=not args.no_twins)
    previous = manifest.load(out, run_id) or {}
    # URLs point at: --registry, else where this run's charts were pushed, else a running embedded registry.
    registry = naming.registry_address(args.registry).host_port if args.registry else previous.get("registry")
    registry = registry or _registry_quietly()
    repository = naming.repository(args.repository or previous.get("repository"), run_id)
    same_target = previous.get("registry") == registry and previous.get("repository") == repository
    known = {e["case"]: e for e in previous.get("charts", [])} if same_target else {}
    rules = manifest.rules_by_case()
    entries = []
    for case in cases:
        fresh = manifest.case_entry(case, registry=registry, repository=repository, rules=rules.get(case.id, []))
        old = known.get(case.id)
        if old is not None and (old.get("chart"), old.get("version")) == (case.chart_name, case.chart_version):
            # What the build and push recorded (package, digest), with the catalog's current rule ids.
            fresh = {**old, "rules": fresh["rules"], "description": fresh["description"]}
        entries.append(fresh)
    data = {
        "format": manifest.MANIFEST_FORMAT,
        "runId": run_id,
        "registry": registry,
        "repository": repository,
        "charts": entries,
    }
    if args.json:
        _print_json(data, entries)
    else:
        _print_table(entries)
    return 0


def _registry_quietly() -> str | None:
    """The embedded registry's address when one is up; listing must work without any."""
    try:
        from conformance.env import state

        reg = state.load_status().get("registry") or {}
        return reg.get("address") if isinstance(reg, dict) else None
    except (ImportError, ConformanceError, AttributeError):
        return None


def _print_json(data: dict[str, Any], entries: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    body = {
        "runId": data.get("runId"),
        "registry": data.get("registry"),
        "repository": data.get("repository"),
        **(extra or {}),
        "charts": entries,
    }
    print(json.dumps(body, indent=2))


def _print_table(entries: Any) -> None:
    rows = [
        (
            e["case"],
            f"{e['chart']}-{e['version']}",
            (e["digest"] or "-")[:19],
            f"{e['helmChartServiceName']}:{e['inferencePort']}",
            _rule_summary(e["rules"]),
        )
        for e in entries
    ]
    header = ("CASE", "CHART", "DIGEST", "SERVICE:PORT", "RULES")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])


def _rule_summary(rules: list[str], shown: int = 3) -> str:
    if not rules:
        return "-"
    more = f" (+{len(rules) - shown} more)" if len(rules) > shown else ""
    return ",".join(rules[:shown]) + more
