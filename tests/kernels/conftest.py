"""Fixtures of the kernel tests. Every test below this folder is marked ``kernel``: the fast
tests of pure computing code (no Redis, Celery or gateway), run alone with ``pytest -m kernel``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.kernels.genome_data import simulate_cohort  # noqa: E402
from tests.kernels.imaging_data import TINY_CLASSES, TRAIN_EPOCHS  # noqa: E402

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(scope="session")
def dask_client(dask_cluster: Any) -> Any:
    """A client of the session's 2-process LocalCluster (the service's worker layout)."""
    from distributed import Client

    client = Client(dask_cluster)
    yield client
    client.close()


@pytest.fixture(scope="module")
def cohort() -> np.ndarray:
    return simulate_cohort()


@pytest.fixture(scope="session")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 20 real-image patches, 28x28 grey, MedMNIST layout."""
    from osler.kernels.imaging.sample_data import build_sample_dataset

    path = tmp_path_factory.mktemp("imaging_data") / "tiny.npz"
    build_sample_dataset(path, size=28, per_class=20, seed=0, classes=TINY_CLASSES)
    return path


@pytest.fixture(scope="session")
def trained(tiny_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One training run shared by the training and inference tests.

    Returns ``{"out_dir", "summary", "calls"}``; ``calls`` are the (fraction, message) progress
    reports.
    """
    from osler.kernels.imaging.train import train_image_classifier

    out_dir = tmp_path_factory.mktemp("imaging_model")
    calls: list[tuple[float, str]] = []
    summary = train_image_classifier(
        tiny_npz, out_dir, epochs=TRAIN_EPOCHS, batch_size=16, early_stopping=False,
        seed=0, progress=lambda f, m: calls.append((f, m)),
    )
    return {"out_dir": out_dir, "summary": summary, "calls": calls}


@pytest.fixture(scope="session")
def loaded_model(trained: dict) -> Any:
    """The trained model loaded back through ``load_image_model`` (safe mode)."""
    from osler.kernels.imaging.inference import load_image_model

    return load_image_model(trained["out_dir"] / "model.keras")


# --- the exchange tests' store and Dask workers (test_*_exchange.py) --------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``s3://…`` on a SeaweedFS server of the module, its variables set in this process."""
    from tests.kernels.exchange_support import seaweedfs

    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as bucket:
        yield bucket


@pytest.fixture(scope="module")
def workers(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """Dask workers with their own data dir, started after the store (its variables set)."""
    from tests.kernels.exchange_support import isolated_workers

    data_dir = tmp_path_factory.mktemp("worker-data")
    with isolated_workers(data_dir) as client:
        yield client, data_dir
