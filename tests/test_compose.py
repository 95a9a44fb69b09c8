"""The cluster-mode compose file is valid (no Docker engine here: ``docker-compose config``)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO


def test_compose_file_is_valid():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_part_with_durable_redis_and_an_object_store():
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"redis", "store", "gateway", "worker", "dask-scheduler", "dask-worker"} <= set(services)
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command and "noeviction" in redis_command
    assert "-s3" in services["store"]["command"] and "store-data:/data" in services["store"][
        "volumes"]
    for name in ("gateway", "worker", "dask-worker"):
        # nothing shared but Redis, the store and the scheduler: no common volume
        assert not services[name].get("volumes"), name
        env = services[name]["environment"]
        assert env["OSLER_STORAGE_URL"].startswith("s3://")
        assert env["AWS_ENDPOINT_URL"] == "http://store:8333"
        assert services[name]["depends_on"]["store"]["condition"] == "service_healthy"
        assert "container_name" not in services[name]  # scalable with --scale
        assert "healthcheck" in services[name]


def test_the_monitoring_profile_scrapes_the_gateway_and_runs_flower():
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = spec["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["flower"]["profiles"] == ["monitoring"]
    assert "flower" in services["flower"]["command"]
    scrape = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    job = scrape["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway:8000"]
    # Every restartable part comes back by itself (a dask worker exits with its scheduler)
    for name in ("redis", "dask-scheduler", "dask-worker", "worker", "gateway"):
        assert services[name]["restart"] == "unless-stopped"
