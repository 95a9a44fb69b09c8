"""Genome distance through the embedded service vs numpy (and PLINK when installed).

Run from the repository root::

    python bench/genome_distance.py                       # n=2000, m=100,000, metric dot
    python bench/genome_distance.py --metrics dot ibs grm --plink

Every figure is measured in this run, on the same data: the ratios are what to quote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.client import OslerClient  # noqa: E402
from api.embedded import EmbeddedStack, free_port  # noqa: E402
from kernels.genotype_simulation import balding_nichols  # noqa: E402
from workers.settings import Settings  # noqa: E402


def time_numpy_dot(genotypes: np.ndarray, repeats: int) -> float:
    a = genotypes.astype(np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        d = a @ a.T
        d /= a.shape[1]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_service(client: OslerClient, dataset_id: str, metric: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        job = client.submit(
            "genome-distance", {"dataset": dataset_id, "metric": metric, "plots": False}
        )
        done = client.wait(job["id"], poll_seconds=0.02)
        elapsed = time.perf_counter() - start
        if done["state"] != "succeeded":
            raise SystemExit(f"service job {done['state']}: {done['error']}")
        times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=100_000)
    parser.add_argument("--metrics", nargs="+", default=["dot"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        genotypes, _ = balding_nichols(args.samples, args.variants, seed=1)
        np.save(root / "cohort.npy", genotypes)
        print(f"cohort: {args.samples} samples x {args.variants} variants (int8 .npy)")
        numpy_s = time_numpy_dot(genotypes, args.repeats)
        print(f"numpy float32 A @ A.T / m (in memory, {args.repeats} runs, median): "
              f"{numpy_s:.2f} s")
        settings = Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                                    dask_scheduler=None)
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            dataset = client.upload(root / "cohort.npy")
            time_service(client, dataset["id"], "dot", 1)  # warm-up: imports, numba caches
            for metric in args.metrics:
                service_s = time_service(client, dataset["id"], metric, args.repeats)
                line = f"osler service {metric:<9} POST -> succeeded (median): {service_s:.2f} s"
                if metric == "dot":
                    line += f"   ratio vs numpy: {service_s / numpy_s:.2f}x"
                print(line)


if __name__ == "__main__":
    main()
