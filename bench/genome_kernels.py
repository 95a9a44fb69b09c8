"""Kernel-level timing of genome distance: osler's kernel on a Dask LocalCluster vs numpy and PLINK.

Usage: python bench/genome_kernels.py [--n 2000] [--m 100000] [--metrics dot,ibs,grm]

Times ``run_genome_distance`` (plots off) on a .bed fileset in a .zip, with a LocalCluster of
2 single-threaded worker processes (warmed up on a tiny job first, as a running service is), and
in the same run numpy ``A @ A.T`` (float32, in memory) and plink1.9 / plink2 when on PATH.
This is the kernel alone; bench/genome_distance.py times the whole service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels.genome_distance import run_genome_distance  # noqa: E402
from kernels.genotype_simulation import balding_nichols  # noqa: E402

PLINK_ARGS = {
    "ibs": ("plink1.9", ["--distance", "square", "bin", "ibs", "flat-missing"]),
    "allele-ct": ("plink1.9", ["--distance", "square", "bin", "allele-ct", "flat-missing"]),
    # plink2 --make-rel is timed only with --plink2-blas: Debian's plink2 links the reference
    # BLAS by default (minutes at n=2000); point LD_LIBRARY_PATH at an OpenBLAS for a fair peer.
    "grm": ("plink2", ["--make-rel", "square", "bin"]),
    "king": ("plink2", ["--make-king", "square", "bin"]),
}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--metrics", default="dot,ibs,grm")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plink2-blas", default=None,
                        help="folder with an OpenBLAS libblas.so.3 for plink2 (LD_LIBRARY_PATH)")
    args = parser.parse_args()

    from bed_reader import to_bed
    from distributed import Client, LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="osler-bench-"))
    g, _ = balding_nichols(args.n, args.m, seed=1)
    np.save(tmp / "g.npy", g)
    to_bed(tmp / "cohort.bed", g.astype(np.float32), num_threads=2)
    archive = tmp / "cohort.zip"
    subprocess.run(["zip", "-q", "-j", "-0", str(archive), *(str(tmp / f"cohort.{e}")
                    for e in ("bed", "bim", "fam"))], check=True)

    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    small = tmp / "small.npy"
    np.save(small, g[:50, :500])
    for metric in args.metrics.split(","):  # warm-up: imports and numba caches in the workers
        out = tmp / f"warm-{metric}"
        out.mkdir()
        run_genome_distance(small, out, work_dir=tmp / f"wwarm-{metric}", metric=metric,
                            plots=False, client=client)

    a = g.astype(np.float32)
    t_numpy = min(timed(lambda: a @ a.T) for _ in range(2))
    print(f"numpy float32 A @ A.T: {t_numpy:.2f} s")
    for metric in args.metrics.split(","):
        out = tmp / f"out-{metric}"
        out.mkdir()
        summary = {}

        def job(metric=metric, out=out, summary=summary) -> None:
            summary.update(run_genome_distance(archive, out, work_dir=tmp / f"w-{metric}",
                                               metric=metric, plots=False, client=client))

        t = timed(job)
        line = f"osler {metric}: {t:.2f} s (tiles {summary['n_tiles']})"
        if metric == "dot":
            line += f"  ratio to numpy {t / t_numpy:.2f}"
        peer = PLINK_ARGS.get(metric)
        if peer and shutil.which(peer[0]) and (metric != "grm" or args.plink2_blas):
            binary, extra = peer
            env = dict(os.environ)
            if args.plink2_blas:
                env["LD_LIBRARY_PATH"] = args.plink2_blas
            cmd = [binary, "--bfile", str(tmp / "cohort"), *extra, "--threads", "2",
                   "--out", str(tmp / f"plink-{metric}")]
            tp = timed(lambda cmd=cmd, env=env: subprocess.run(cmd, check=True,
                                                               capture_output=True, env=env))
            line += f"  {binary}: {tp:.2f} s  speed-up {tp / t:.2f}x"
        print(line, flush=True)
        print(f"    phases: {summary['phase_seconds']}", flush=True)
    client.close()
    cluster.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
