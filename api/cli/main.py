"""The ``osler`` command: run the stack (``up``, ``gateway``, ``worker``) and talk to it.

Every error prints one line on stderr and exits non-zero; no tracebacks for things a user did.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from osler.api.cli.admin import add_commands
from osler.api.cli.embedded import StartupError
from osler.api.cli.watch import watch_job
from osler.api.client import ClientError, OslerClient, write_client_config
from osler.workers.errors import OslerError
from osler.workers.settings import Settings


class CommandError(Exception):
    """A command cannot go on; the message is shown to the user."""


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param needs NAME=VALUE, got {pair!r}")
        params[name] = _parse_value(value)
    return params


# --- running the stack -------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from osler.api.cli.embedded import EmbeddedStack, wait_for_signal

    with EmbeddedStack(settings, args.host, args.port) as stack:
        token = stack.create_token("default")
        write_client_config(settings, stack.url, token)
        print(f"token: {token}", flush=True)
        print(f"url: {stack.url}", flush=True)
        print("osler is up; press Ctrl-C to stop", file=sys.stderr, flush=True)
        wait_for_signal()
    return 0


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    from gunicorn.app.wsgiapp import run

    sys.argv = [
        "gunicorn",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers),
        "--threads", "4",
        "--timeout", "120",
        "osler.api.wsgi:app",
    ]
    run()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from osler.workers.celery_app import make_celery, set_celery

    celery_app = set_celery(make_celery(settings))
    celery_app.worker_main(
        [
            "worker",
            "--queues", args.queues,
            "--concurrency", str(args.concurrency),
            "--hostname", f"{args.queues.replace(',', '+')}@%h",
            "--loglevel", "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
    return 0


# --- client commands -----------------------------------------------------------------------------


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _finished(job: dict[str, Any]) -> int:
    if job["state"] == "succeeded":
        print(f"job {job['id']} succeeded", file=sys.stderr)
        return 0
    error = job.get("error") or {}
    print(f"job {job['id']} {job['state']}: {error.get('message', '')}", file=sys.stderr)
    return 1


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    params = _parse_params(args.param)
    for item in args.input:
        name, sep, path = item.rpartition("=")
        name = name if sep else "dataset"
        dataset = client.upload(Path(path))
        params[name] = dataset["id"]
    job = client.submit(args.kind, params)
    print(job["id"])
    if args.watch:
        return _finished(watch_job(client, job["id"]))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    if args.watch:
        return _finished(watch_job(client, args.job_id))
    _print_json(client.job(args.job_id))
    return 0


def cmd_result(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    job = client.job(args.job_id)
    if job["state"] != "succeeded":
        raise CommandError(f"job {args.job_id} is {job['state']}; it has no result")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for artifact in job["artifacts"]:
        client.download(args.job_id, artifact["name"], out / artifact["name"])
    (out / "result.json").write_text(json.dumps(job["result"], indent=2))
    print(f"{len(job['artifacts'])} artifact(s) and result.json written to {out}")
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    job = client.cancel(args.job_id)
    print(f"job {job['id']} {job['state']}")
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    query = {k: v for k, v in {"state": args.state, "kind": args.kind}.items() if v}
    for job in client.jobs(limit=args.limit, **query)["jobs"]:
        fraction = job["progress"]["fraction"]
        print(f"{job['id']}  {job['kind']:<24} {job['state']:<10} {fraction:>4.0%}  "
              f"{job['created_at']}")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from osler.api.cli.demo import run_demo

    return run_demo(settings, args.which)


# --- the parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="osler", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the embedded stack (Redis, workers, Dask, gateway)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.set_defaults(func=cmd_up)

    gateway = sub.add_parser("gateway", help="run the gateway alone (cluster mode)")
    gateway.add_argument("--host", default="0.0.0.0")
    gateway.add_argument("--port", type=int, default=8000)
    gateway.add_argument("--workers", type=int, default=2)
    gateway.set_defaults(func=cmd_gateway)

    worker = sub.add_parser("worker", help="run a Celery worker (cluster mode)")
    worker.add_argument("--queues", default="compute,train,predict")
    worker.add_argument("--concurrency", type=int, default=1)
    worker.set_defaults(func=cmd_worker)

    add_commands(sub)

    submit = sub.add_parser("submit", help="submit a job")
    submit.add_argument("kind")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    submit.add_argument(
        "--input", action="append", default=[], metavar="[NAME=]FILE",
        help="upload FILE as a dataset and pass it as params.NAME (default: dataset)",
    )
    submit.add_argument("--watch", action="store_true", help="draw a progress bar until done")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="show a job")
    status.add_argument("job_id")
    status.add_argument("--watch", action="store_true")
    status.set_defaults(func=cmd_status)

    result = sub.add_parser("result", help="download a job's artifacts")
    result.add_argument("job_id")
    result.add_argument("-o", "--output", default=".")
    result.set_defaults(func=cmd_result)

    cancel = sub.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=cmd_cancel)

    jobs = sub.add_parser("jobs", help="list your jobs")
    jobs.add_argument("--state")
    jobs.add_argument("--kind")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.set_defaults(func=cmd_jobs)

    demo = sub.add_parser("demo", help="run real jobs end to end on the embedded stack")
    demo.add_argument("which", nargs="?", default="genome", choices=("genome", "models"),
                      help="genome: a distance matrix (default); models: train and query an "
                      "image classifier and a word2vec model")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except (CommandError, ClientError, StartupError, OslerError, ValueError, OSError) as exc:
        print(f"osler: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

