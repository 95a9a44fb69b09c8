"""``GET /metrics``: Prometheus text exposition of the gateway and the jobs.

- HTTP requests by route *template* and status, and their latency, from this gateway: counted
  per process with ``prometheus-client``, in its multiprocess mode under gunicorn (``osler
  gateway`` sets ``PROMETHEUS_MULTIPROC_DIR``), so every worker process is in one answer;
- jobs submitted by kind (counted here, where jobs are submitted);
- jobs finished by kind and final state, run-time and queue-wait histograms by kind: aggregated
  through Redis by the job store (:mod:`osler.workers.job_metrics`), whichever worker ran them;
- jobs waiting per queue (the broker's lists), workers seen per queue (their heartbeats), Dask
  workers connected (the compute workers' probes), read at scrape time.

No label carries a tenant, token, dataset name or value from a file. ``/metrics`` needs no
token; turn it off with ``OSLER_METRICS=off``, and serve it on an internal port or keep it
behind the proxy (it says how busy the service is).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from osler.workers import job_metrics
from osler.workers.kinds import QUEUES
from osler.workers.settings import Settings
from osler.workers.worker_loops import dask_key, queues_of, worker_key

HTTP_REQUESTS = Counter("osler_http_requests_total", "HTTP requests answered",
                        ["route", "method", "status"])
HTTP_LATENCY = Histogram("osler_http_request_duration_seconds", "HTTP request latency",
                         ["route", "method"])
JOBS_SUBMITTED = Counter("osler_jobs_submitted_total", "Jobs accepted (202)", ["kind"])

SUBMIT_ENDPOINTS = ("jobs.submit_job", "job_lifecycle.rerun_job")


class JobsCollector:
    """The metrics every worker adds to in Redis, and the cluster's state, at scrape time."""

    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client

    def _histogram(self, name: str, doc: str, key: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, doc, labels=["kind"])
        for kind, values in sorted(job_metrics.read_histogram(self.redis.hgetall(key)).items()):
            buckets = [(f"{b:g}", values.get(f"{b:g}", 0.0)) for b in job_metrics.BUCKETS]
            buckets.append(("+Inf", values.get("+Inf", 0.0)))
            family.add_metric([kind], buckets, sum_value=values.get("sum", 0.0))
        return family

    def collect(self) -> Iterator[Any]:
        finished = CounterMetricFamily("osler_jobs_finished", "Jobs finished",
                                       labels=["kind", "state"])
        for field, count in sorted(self.redis.hgetall(job_metrics.FINISHED_KEY).items()):
            kind, _, state = field.partition("|")
            finished.add_metric([kind, state], float(count))
        yield finished
        yield self._histogram("osler_job_run_seconds", "Run time of succeeded jobs",
                              job_metrics.RUN_SECONDS_KEY)
        yield self._histogram("osler_job_queue_wait_seconds", "Time from submit to first start",
                              job_metrics.QUEUE_WAIT_KEY)
        queued = GaugeMetricFamily("osler_queue_messages", "Messages waiting per queue",
                                   labels=["queue"])
        seen = GaugeMetricFamily("osler_workers", "Celery workers seen, per queue they serve",
                                 labels=["queue"])
        hosts = [k.removeprefix(worker_key("")) for k in self.redis.scan_iter(worker_key("*"))]
        for queue in QUEUES:
            queued.add_metric([queue], float(self.redis.llen(queue)))
            seen.add_metric([queue], float(sum(queue in queues_of(h) for h in hosts)))
        yield queued
        yield seen
        reports = [self.redis.get(k) for k in self.redis.scan_iter(dask_key("*"))]
        dask = GaugeMetricFamily("osler_dask_workers", "Dask workers connected to the scheduler")
        dask.add_metric([], float(max((json.loads(r)["workers"] for r in reports if r),
                                      default=0)))
        yield dask


def _route() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_app(app: Flask, settings: Settings) -> None:
    """Count requests and serve ``/metrics`` (nothing at all with ``OSLER_METRICS=off``)."""
    if not settings.metrics:
        return

    @app.before_request
    def _start_timer() -> None:
        g.osler_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        route = _route()
        if route == "/metrics":
            return response
        HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        started = g.get("osler_started")
        if started is not None:
            HTTP_LATENCY.labels(route, request.method).observe(time.perf_counter() - started)
        if request.endpoint in SUBMIT_ENDPOINTS and response.status_code == 202:
            kind = (response.get_json(silent=True) or {}).get("kind")
            if isinstance(kind, str):
                JOBS_SUBMITTED.labels(kind).inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        jobs = CollectorRegistry()
        jobs.register(JobsCollector(app.extensions["osler"].redis))
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            local = CollectorRegistry()
            multiprocess.MultiProcessCollector(local)
        else:
            local = REGISTRY
        body = generate_latest(local) + generate_latest(jobs)
        return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                        headers={"Content-Type": CONTENT_TYPE_LATEST})
