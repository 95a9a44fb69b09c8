"""``osler submit`` with its input files, and ``osler result``.

A submit checks the request at the gateway first (``POST /v1/jobs/validate``, the files' params
left pending), then uploads each file unless the caller already has a dataset with the same
SHA-256, then queues the job: a bad request uploads nothing, and a file is stored once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from osler.api.cli.errors import CommandError
from osler.api.cli.tables import print_json
from osler.api.cli.watch import watch_job
from osler.api.client import OslerClient
from osler.workers.settings import Settings


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; a VALUE that parses as JSON is that value, else the string."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param needs NAME=VALUE, got {pair!r}")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def parse_inputs(items: list[str], kind: dict[str, Any]) -> dict[str, Path]:
    """``PARAM=FILE`` (or a bare ``FILE`` for a kind with one dataset param) to {param: path}."""
    dataset_params = kind["dataset_params"]
    inputs: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            if len(dataset_params) != 1:
                raise CommandError(
                    f"{kind['name']} takes datasets {', '.join(dataset_params) or '(none)'}: "
                    f"use --input PARAM=FILE")
            name, path = dataset_params[0], item
        if name in inputs:
            raise CommandError(f"--input {name}= is given twice")
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"no such file: {file}")
        inputs[name] = file
    return inputs


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_for(client: OslerClient, path: Path) -> str:
    """The id of the caller's dataset with ``path``'s content, uploading it only if new."""
    same = client.get("/v1/datasets", sha256=sha256_of(path))["datasets"]
    if same:
        print(f"osler: {path.name}: reusing dataset {same[0]['id']} (same SHA-256)",
              file=sys.stderr)
        return same[0]["id"]
    return client.upload(path)["id"]


def finished(job: dict[str, Any]) -> int:
    if job["state"] == "succeeded":
        print(f"job {job['id']} succeeded", file=sys.stderr)
        return 0
    error = job.get("error") or {}
    print(f"job {job['id']} {job['state']}: {error.get('message', '')}", file=sys.stderr)
    return 1


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    kind = client.get(f"/v1/kinds/{args.kind}")
    params = parse_params(args.param)
    inputs = parse_inputs(args.input, kind)
    client.validate(args.kind, params, pending=list(inputs))
    for name, path in inputs.items():
        params[name] = dataset_for(client, path)
    job = client.submit(args.kind, params)
    if args.json and not args.watch:
        print_json(job)
        return 0
    print(job["id"], flush=True)
    if args.watch:
        done = watch_job(client, job["id"])
        if args.json:
            print_json(done)
        return finished(done)
    return 0


def cmd_result(args: argparse.Namespace, settings: Settings) -> int:
    """Download every artifact and result.json into ``./<job id>/`` (or ``-o``); refuse to
    overwrite any file there unless ``--force`` (checked before anything is written)."""
    client = OslerClient.from_environment(settings)
    job = client.job(args.job_id)
    if job["state"] != "succeeded":
        raise CommandError(f"job {args.job_id} is {job['state']}; it has no result")
    out = Path(args.output) if args.output else Path(job["id"])
    names = [artifact["name"] for artifact in job["artifacts"]] + ["result.json"]
    existing = [name for name in names if (out / name).exists()]
    if existing and not args.force:
        shown = ", ".join(existing[:3]) + (", ..." if len(existing) > 3 else "")
        raise CommandError(f"{out} already holds {len(existing)} of this job's files "
                           f"({shown}); pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    for name in names[:-1]:
        client.download(job["id"], name, out / name)
    (out / "result.json").write_text(json.dumps(job["result"], indent=2))
    if args.json:
        out = out.resolve()
        print_json({"job_id": job["id"], "folder": str(out),
                    "files": [str(out / name) for name in names]})
    else:
        print(f"{len(names) - 1} artifact(s) and result.json written to {out}")
    return 0
