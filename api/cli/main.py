"""The ``osler`` command: run the stack (``up``, ``gateway``, ``worker``) and talk to it.

Every error prints one line on stderr and exits non-zero; no tracebacks for things a user did.
"""

from __future__ import annotations

import argparse
import os
import sys

from osler.api.cli.admin import add_commands
from osler.api.cli.catalog import cmd_datasets, cmd_kinds, cmd_models
from osler.api.cli.embedded import StartupError
from osler.api.cli.errors import CommandError
from osler.api.cli.lifecycle import cmd_delete, cmd_logs, cmd_rerun
from osler.api.cli.predict import cmd_predict
from osler.api.cli.submit import cmd_result, cmd_submit, finished
from osler.api.cli.tables import print_json
from osler.api.cli.watch import watch_job
from osler.api.client import ClientError, OslerClient, write_client_config
from osler.api.stack_registry import recorded
from osler.workers.errors import OslerError
from osler.workers.kinds import all_kinds
from osler.workers.settings import Settings

__all__ = ["CommandError", "build_parser", "main"]


# --- running the stack -------------------------------------------------------------------------


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from osler.api.cli.embedded import EmbeddedStack, wait_for_signal

    with EmbeddedStack(settings, args.host, args.port, args.dask_dashboard_port) as stack:
        token = stack.create_token("default")
        write_client_config(settings, stack.url, token)
        print(f"token: {token}", flush=True)
        print(f"url: {stack.url}", flush=True)
        print(f"dashboard: {stack.url}/dashboard/", flush=True)
        print(f"dask dashboard: {stack.dask_dashboard_url}", flush=True)
        print("osler is up; press Ctrl-C to stop", file=sys.stderr, flush=True)
        with recorded(settings.data_dir, stack.url):
            wait_for_signal()
    return 0


def _store_ready(settings: Settings) -> bool:
    """Whether the object store answers (a missing bucket is made); says why not."""
    from osler.workers.storage import open_store

    try:
        open_store(settings).ensure_ready()
        return True
    except Exception as exc:  # noqa: BLE001 - any failure to reach the store stops start-up
        print(f"osler: the store {settings.storage_url} cannot be used: "
              f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return False


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> int:
    import shutil

    from gunicorn.app.wsgiapp import run

    if not _store_ready(settings):
        return 2

    # One folder for the metrics of every gunicorn worker process, fresh for each gateway.
    metrics_dir = settings.data_dir / "prometheus" / f"gateway-{os.getpid()}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    sys.argv = [
        "gunicorn",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers),
        "--threads", "4",
        "--timeout", "120",
        # gunicorn's control socket has one path per user: two gateways on a host would share it
        "--no-control-socket",
        "osler.api.wsgi:app",
    ]
    run()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from osler.workers import worker_loops  # heartbeat, reconciler, Dask probe, warm-up

    worker_loops.SERVED_QUEUES[:] = args.queues.split(",")
    if not _store_ready(settings):
        return 2
    from osler.workers.celery_app import make_celery, set_celery

    # Celery logs each task's return value at INFO: inference answers are patient data.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
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


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    if args.watch:
        return finished(watch_job(client, args.job_id))
    print_json(client.job(args.job_id))
    return 0


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    job = client.cancel(args.job_id)
    print(f"job {job['id']} {job['state']}")
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    client = OslerClient.from_environment(settings)
    query = {k: v for k, v in {"state": args.state, "kind": args.kind}.items() if v}
    jobs = client.jobs(limit=args.limit, **query)["jobs"]
    if args.json:
        print_json(jobs)
        return 0
    for job in jobs:
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
    up.add_argument("--dask-dashboard-port", type=int, default=8787,
                    help="the Dask dashboard's port, on --host (default 8787)")
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

    kinds = sorted(all_kinds())
    submit = sub.add_parser(
        "submit", help="submit a job (validated first; files uploaded once, by SHA-256)",
        epilog=f"kinds: {', '.join(kinds)}. 'osler kinds KIND' lists a kind's params.",
    )
    submit.add_argument("kind", metavar="KIND", help="the job kind (see 'osler kinds')")
    submit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a param; VALUE is read as JSON when it parses (5, true, [1,2])")
    submit.add_argument(
        "--input", action="append", default=[], metavar="[PARAM=]FILE",
        help="a file for the dataset param PARAM (repeat for each; a bare FILE fills a kind's "
        "only dataset param); uploaded unless you have a dataset with the same content",
    )
    submit.add_argument("--watch", action="store_true", help="show progress until done")
    submit.add_argument("--json", action="store_true", help="print the job as JSON")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="show a job (JSON)")
    status.add_argument("job_id")
    status.add_argument("--watch", action="store_true")
    status.set_defaults(func=cmd_status)

    result = sub.add_parser("result", help="download a job's artifacts into ./<job id>/")
    result.add_argument("job_id")
    result.add_argument("-o", "--output", help="folder to write into (default: ./<job id>)")
    result.add_argument("--force", action="store_true", help="overwrite files already there")
    result.add_argument("--json", action="store_true", help="print the files written as JSON")
    result.set_defaults(func=cmd_result)

    kinds_cmd = sub.add_parser("kinds", help="list job kinds, or one kind's params")
    kinds_cmd.add_argument("kind", nargs="?", metavar="KIND")
    kinds_cmd.add_argument("--json", action="store_true")
    kinds_cmd.set_defaults(func=cmd_kinds)

    datasets = sub.add_parser("datasets", help="list your datasets")
    datasets.add_argument("--json", action="store_true")
    datasets.set_defaults(func=cmd_datasets)

    models = sub.add_parser("models", help="list your models, or show one")
    models.add_argument("model_id", nargs="?", metavar="ID")
    models.add_argument("--json", action="store_true")
    models.set_defaults(func=cmd_models)

    predict = sub.add_parser("predict", help="run a registered model on one input")
    predict.add_argument("model_id", metavar="MODEL")
    given = predict.add_mutually_exclusive_group(required=True)
    given.add_argument("--image", action="append", metavar="FILE",
                       help="PNG, JPEG or DICOM (image classifiers; repeatable)")
    given.add_argument("--text", action="append", metavar="TEXT",
                       help="a text (sequence classifiers, seq2seq; repeatable)")
    given.add_argument("--word", metavar="WORD", help="nearest words (word2vec)")
    predict.add_argument("--top", type=int, default=5, help="classes or words shown")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(func=cmd_predict)

    cancel = sub.add_parser("cancel", help="cancel a job")
    cancel.add_argument("job_id")
    cancel.set_defaults(func=cmd_cancel)

    jobs = sub.add_parser("jobs", help="list your jobs")
    jobs.add_argument("--state")
    jobs.add_argument("--kind")
    jobs.add_argument("--limit", type=int, default=20)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)

    logs = sub.add_parser("logs", help="print a job's event log")
    logs.add_argument("job_id")
    logs.add_argument("--follow", action="store_true", help="until the job finishes")
    logs.add_argument("--json", action="store_true", help="one JSON event per line")
    logs.set_defaults(func=cmd_logs)

    delete = sub.add_parser("delete", help="delete a finished job and its artifacts")
    delete.add_argument("job_id")
    delete.set_defaults(func=cmd_delete)

    rerun = sub.add_parser("rerun", help="submit a job's kind and params again")
    rerun.add_argument("job_id")
    rerun.set_defaults(func=cmd_rerun)

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

