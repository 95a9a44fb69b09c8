"""An extension's job against the full job, in the job's own process, on a real Dask cluster.

Run from the repository root::

    python bench/extends_tiles.py [--n 2000] [--extends 200] [--m 100000] [--missing 0.02]

``bench/genome_distance.py --extends`` times both jobs through the service (POST -> succeeded).
This script calls ``run_genome_distance`` directly, on a ``dask scheduler`` and two
single-thread ``dask worker`` processes started with the same preloads as ``osler up``, so its
times are the job's own (no gateway, queue or polling). It simulates n + K samples (Balding-
Nichols, ``--missing`` of the calls missing), writes both cohorts as a stored ``.zip`` of a
PLINK fileset, runs the job of the first n once, then alternates the full job of all n + K with
the job that extends it, ``--repeats`` times (after one untimed run of each). It prints each
pair's seconds and phases, the tasks of each extension on the workers (start and stop seconds
from the job's start), the medians and their ratio, and whether the last two matrices are equal.

Then it times, in this one process on the same grown cohort (median of ``--repeats``), the parts
of an extension's CPU: the job's digests of the calls, counting all samples and only the new
ones, copying the old matrices into new files, packing half of the old samples and the new
ones, and one rectangle's pair counts (half of the old samples x the new ones).

Last, the work of each job on one core: every tile of the grid two workers get (the full job's
bands, the extension's rectangles and new square), each packing its rows, counting its pairs and
writing itself and its mirror into new matrix files, plus what the job's own process does
(counting and digesting the calls on a new upload; the extension's copy of the old matrices).
Their ratio is what the extension costs against the full job when both spread their work over
the workers equally well: on a new upload, and on a dataset whose counts and digests are cached.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from genome_distance import write_bed_zip

from osler.kernels.blocked import MatrixFile, compute_tile, extension_grid, symmetric_grid
from osler.kernels.genome import incremental
from osler.kernels.genome import metrics as gm
from osler.kernels.genome.bed import count_bed_block
from osler.kernels.genome.distance import run_genome_distance
from osler.kernels.genome.genotypes import load_genotypes
from osler.kernels.genome.simulate import balding_nichols
from osler.kernels.incremental import PriorJob, copy_block, npy_data_offset


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_dask(root: Path) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and two one-thread workers, with the preloads ``osler up`` gives them."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OSLER_DATA_DIR": str(root / "data")}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", str(port), "--dashboard-address", ":0",
         "--preload", "osler.kernels.scheduler_preload"], **quiet)
    workers = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
         "--nthreads", "1", "--no-dashboard", "--local-directory", str(root / "dask"),
         "--preload", "osler.kernels.preload"], **quiet)
    return address, [workers, scheduler]


def median_ms(part: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        part()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_parts(grown: Path, earlier: Path, n_old: int, root: Path, repeats: int,
               metric: str) -> None:
    """The CPU parts of an extension, each alone in this process, then the work of each job
    (see the module docstring)."""
    import numpy as np

    cohort = load_genotypes(grown, root / "parts")
    n, m = cohort.shape
    np.save(root / "parts" / "keep.npy", np.arange(m, dtype=np.int64))
    source = gm.genotype_source(str(cohort.path), str(root / "parts" / "keep.npy"),
                                (n, m, cohort.bed_offset))
    half = n_old // 2
    old_rows, new_rows = gm.packed_rows(source, 0, half), gm.packed_rows(source, n_old, n)
    suffix = next(earlier.glob("matrix.*.bin")).name

    def copy_old_matrices() -> None:
        folder = root / "copies"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for name, dtype, npy in (("matrix.npy", "float32", True), (suffix, "float64", False)):
            out = MatrixFile(str(folder / name), n, dtype, npy=npy)
            out.create()
            src = str(earlier / name)
            copy_block(src, npy_data_offset(src) if npy else 0, n_old, out.path,
                       npy_data_offset(out.path) if npy else 0, n, n_old,
                       np.dtype(dtype).itemsize)

    bed = {"bed": str(cohort.path), "n": n, "offset": cohort.bed_offset}
    digests = f"digests of the calls (all {n} samples and the first {n_old})"
    count_all, count_new = f"counting all {n} samples", f"counting the {n - n_old} new samples"
    copy = "copying the old matrices (.npy and .bin)"
    parts = {
        digests: lambda: incremental.genotype_digests(cohort, n_old),
        count_all: lambda: count_bed_block(0, m, **bed),
        count_new: lambda: count_bed_block(0, m, **bed, first=n_old),
        copy: copy_old_matrices,
        f"packing old samples 0:{half}": lambda: gm.packed_rows(source, 0, half),
        f"packing the {n - n_old} new samples": lambda: gm.packed_rows(source, n_old, n),
        f"pair counts of {half} old x {n - n_old} new samples":
            lambda: gm.missing_distance_counts(old_rows, new_rows, False, m),
    }
    print(f"an extension's parts, one core, median of {repeats}:")
    took = {}
    for label, part in parts.items():
        took[label] = median_ms(part, repeats)
        print(f"    {label}: {took[label]:.1f} ms", flush=True)

    def every_tile(grid: list[tuple[int, int, int, int]]) -> Callable[[], None]:
        """The tiles of a grid, each packing its rows (a fresh job token: nothing packed
        before is reused) and writing itself and its mirror into new n x n matrix files."""
        tile_fn, kwargs = ((gm.king_tile, {}) if metric == "king" else
                           (gm.distance_tile, {"n_variants": m, "metric": metric}))

        def run() -> None:
            folder = root / "tiles"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            outputs = [MatrixFile(str(folder / "m.npy"), n, "float32", npy=True),
                       MatrixFile(str(folder / "m.bin"), n, "float64", npy=False)]
            for out in outputs:
                out.create()
            tile_source = {**source, "token": uuid.uuid4().hex}
            for tile in grid:
                compute_tile(tile_fn, tile, outputs,
                             {"source": tile_source, "has_missing": has_missing, **kwargs})
        return run

    has_missing = bool(np.any(count_bed_block(0, m, **bed)[0] < n))
    whole = incremental.genotype_digests(cohort)[0]
    full_tiles = median_ms(every_tile(symmetric_grid(n, 2)), repeats)
    ext_tiles = median_ms(every_tile(extension_grid(n_old, n, 2)), repeats)
    full_digests = median_ms(lambda: incremental.genotype_digests(cohort), repeats)
    cut = median_ms(lambda: incremental.genotype_digests(cohort, n_old, known=whole), repeats)
    full_new = full_tiles + took[count_all] + full_digests
    ext_new = ext_tiles + took[count_new] + took[digests] + took[copy]
    ext_used = ext_tiles + cut + took[copy]
    print(f"each job's work, one core, median of {repeats}: the tiles of two workers' grids "
          f"(packing, {metric} pair counts, writes) take {full_tiles:.1f} ms for the full job "
          f"and {ext_tiles:.1f} ms for the extension; the full job also digests all samples "
          f"({full_digests:.1f} ms), the extension only the earlier cohort's partial last block "
          f"on a used dataset ({cut:.1f} ms)")
    print(f"    new upload (tiles, counting, digests; the extension's copy): full "
          f"{full_new:.1f} ms, extension {ext_new:.1f} ms: {ext_new / full_new:.1%}")
    print(f"    used dataset (counts and digests cached): full {full_tiles:.1f} ms, extension "
          f"{ext_used:.1f} ms: {ext_used / full_tiles:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--extends", type=int, default=200)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--missing", type=float, default=0.02)
    parser.add_argument("--metric", default="ibs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds between the workers joining and the first job")
    args = parser.parse_args()

    from distributed import Client, get_task_stream

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        g, _ = balding_nichols(args.n + args.extends, args.m, seed=1, missing_rate=args.missing)
        inputs = {}
        for name, rows in (("old", g[:args.n]), ("new", g)):
            (root / name).mkdir()
            inputs[name] = write_bed_zip(rows, root / name)
        del g
        address, processes = start_dask(root)
        try:
            time.sleep(3)
            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=120)
                time.sleep(args.settle)
                runs = 0

                def job(name: str, prior: PriorJob | None = None) -> tuple[float, dict, Path]:
                    nonlocal runs
                    runs += 1
                    out = root / f"out{runs}"
                    out.mkdir()
                    start = time.perf_counter()
                    summary = run_genome_distance(inputs[name], out, work_dir=root / "work",
                                                  metric=args.metric, plots=False,
                                                  extends=prior, client=client)
                    return time.perf_counter() - start, summary, out

                _, _, first = job("old")
                prior = PriorJob("earlier", lambda artifact: first / artifact)
                job("new", prior)
                job("new")
                full, extension = [], []
                for _ in range(args.repeats):
                    os.sync()
                    full_s, full_summary, full_out = job("new")
                    os.sync()
                    with get_task_stream(client) as stream:
                        started = time.time()
                        ext_s, ext_summary, ext_out = job("new", prior)
                    full.append(full_s)
                    extension.append(ext_s)
                    print(f"full {full_s:.3f} s {full_summary['phase_seconds']}; extension "
                          f"{ext_s:.3f} s {ext_summary['phase_seconds']}", flush=True)
                    for task in stream.data:
                        for part in task["startstops"]:
                            if part["action"] == "compute":
                                print(f"    {task['key'][:36]:36} {part['start'] - started:6.3f}"
                                      f" {part['stop'] - started:6.3f}")
                full_s, ext_s = statistics.median(full), statistics.median(extension)
                same = all((full_out / f).read_bytes() == (ext_out / f).read_bytes()
                           for f in ("matrix.npy", ext_summary["files"]["plink_bin"]))
                print(f"{args.metric}, {args.n} + {args.extends} samples x {args.m} variants, "
                      f"{args.missing:.0%} missing (median of {args.repeats}, alternating): full "
                      f"{full_s:.3f} s, extension {ext_s:.3f} s: {ext_s / full_s:.1%}; "
                      f"matrices equal: {same}")
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
        time_parts(inputs["new"], first, args.n, root, args.repeats, args.metric)


if __name__ == "__main__":
    main()
