#!/usr/bin/env python3
"""Write a `docker save`-format image archive from layer tarballs: no engine, no registry.

    python3 oci_archive.py --out IMG.tar --tag NAME:TAG [--tag ...] --layer L1.tar [--layer L2.tar ...]
        [--entrypoint JSON] [--cmd JSON] [--env K=V ...] [--user U] [--workdir DIR]
        [--label K=V ...] [--stop-signal SIG] [--expose PORT/PROTO ...]

The archive (manifest.json, the image config, one uncompressed layer.tar per layer) is what both
`docker load` (Docker 20.10 reads no OCI layout) and `ctr images import` accept. Layers are stored
uncompressed, so a layer's digest is its diff id and the same layer tarball used in two images is
one blob to containerd and to the registry. The config carries no creation time: the same inputs give
the same image id. Standard library only: tools/ runs before the project venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"oci_archive: {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _json_list(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SystemExit(f"oci_archive: {what} must be a JSON list of strings, got {text!r}")
    return value


def image_config(args: argparse.Namespace, diff_ids: list[str]) -> dict[str, object]:
    config: dict[str, object] = {}
    env = list(args.env)
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    config["Env"] = env
    entrypoint = _json_list(args.entrypoint, "--entrypoint")
    if entrypoint is not None:
        config["Entrypoint"] = entrypoint
    cmd = _json_list(args.cmd, "--cmd")
    if cmd is not None:
        config["Cmd"] = cmd
    if args.user:
        config["User"] = args.user
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.label:
        config["Labels"] = _pairs(args.label, "--label")
    if args.stop_signal:
        config["StopSignal"] = args.stop_signal
    if args.expose:
        config["ExposedPorts"] = {port: {} for port in args.expose}
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
        "history": [{"created_by": "nvcf-conformance tools/kind-node/oci_archive.py"} for _ in diff_ids],
    }


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_archive(args: argparse.Namespace) -> str:
    layers = [Path(p) for p in args.layer]
    diff_ids = [sha256_file(p) for p in layers]
    config = json.dumps(image_config(args, diff_ids), sort_keys=True, separators=(",", ":")).encode()
    config_id = hashlib.sha256(config).hexdigest()
    manifest = [{
        "Config": f"{config_id}.json",
        "RepoTags": list(args.tag),
        "Layers": [f"{d}/layer.tar" for d in diff_ids],
    }]
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, f"{config_id}.json", config)
        written: set[str] = set()
        for digest, path in zip(diff_ids, layers, strict=True):
            if digest in written:
                continue
            written.add(digest)
            dir_info = tarfile.TarInfo(digest)
            dir_info.type = tarfile.DIRTYPE
            dir_info.mode = 0o755
            tar.addfile(dir_info)
            info = tarfile.TarInfo(f"{digest}/layer.tar")
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
    os.replace(tmp, out)
    return config_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--tag", action="append", required=True)
    parser.add_argument("--layer", action="append", required=True)
    parser.add_argument("--entrypoint")
    parser.add_argument("--cmd")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--user")
    parser.add_argument("--workdir")
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--stop-signal")
    parser.add_argument("--expose", action="append", default=[])
    args = parser.parse_args(argv)
    print(f"sha256:{write_archive(args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
