"""Genome distance through the embedded service vs numpy and PLINK, on one simulated cohort.

Run from the repository root::

    python bench/genome_distance.py                          # n=2000, m=100,000: dot, ibs, grm
    python bench/genome_distance.py --n 20000 --m 20000 --metrics ibs --formats bed --no-peers
    python bench/genome_distance.py --missing 0.02 --metrics ibs king --formats bed --alternate
    python bench/genome_distance.py --metrics ibs --formats bed --cold --no-peers [--settle 30]
    python bench/genome_distance.py --missing 0.02 --metrics ibs --storage s3
    python bench/genome_distance.py --missing 0.02 --metrics ibs --formats bed --extends 200
    python bench/genome_distance.py --missing 0.02 --metrics ibs grm king --formats bed --sgkit

The cohort is simulated (Balding-Nichols, three populations) and uploaded once as an int8 ``.npy``
and once as a PLINK ``.bed/.bim/.fam`` fileset in a ``.zip``; ``--missing`` sets that share of its
calls missing, uniformly at random. Each osler time is POST /v1/jobs to
``succeeded`` with ``plots=false``, on a warmed-up stack (Dask workers have loaded numba's caches),
median of ``--repeats``; the client long-polls (``?wait=``), so no poll interval is added and no
busy polling takes CPU from the job. Each job's phases (read, count, pack, tiles, plots) are
printed. Peers run in the same run on the same data, also medians of ``--repeats``: numpy
``A @ A.T`` with A already float32 in memory (2 BLAS threads), ``plink1.9 --distance square bin
ibs flat-missing``, ``plink2 --make-rel square bin`` and ``plink2 --make-king square bin``, plink2
with OpenBLAS through ``LD_LIBRARY_PATH`` (Debian's plink2 links the slow reference BLAS by
default). ``--cold`` instead times the first job of a fresh stack (no warm-up: its Dask workers
have just started) against the same job run again right after, and once more after ``--settle``
seconds idle (what a job pays after any idle spell, start-up or not); an earlier stack on the
same data directory ran the job once, so every timed job takes the dataset's cached counts and
digests and only the stack's start differs. ``--extends K`` instead times
the job of a cohort grown by K samples (n + K) that ``extends`` the finished job of its first n,
against the full job of the same n + K samples, alternately, median of ``--repeats`` each (peers
are not run). ``--storage s3`` instead runs the ``.bed`` job of each metric on two embedded
stacks side by side, one on the default file store and one on a local SeaweedFS S3 store
(``bench/stores.py``), alternating, and prints the medians and the s3/file ratio. The peak RSS
summed over every process of the stack (gateway, Celery workers, Dask scheduler and workers,
Redis) is sampled while jobs run.

``--sgkit`` also times sgkit's Dask-based peers on the same genotypes, before the stack starts
(``bench/sgkit_peer.py``, run by the Python of a separate environment, ``--sgkit-python``:
sgkit pins older numpy, dask and zarr than osler's): ``identity_by_state`` for ibs,
``genomic_relationship`` (VanRaden) for grm and ``pc_relate`` for king, on Dask's threaded
scheduler with 2 threads and one BLAS thread each. Their time is the sgkit call and
``.compute()`` of its matrix (Dask graph included, building the Dataset from numpy excluded),
median of ``--repeats``; each is printed as a ratio to osler's job for the same metric in the
same run. After the stack's jobs, one more (untimed) osler job per metric gives its matrix, and
the script prints how far sgkit's is from it: none of the three is the same quantity, so it also
prints what explains the difference (see bench/README.md, "sgkit").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.api.client import OslerClient
from osler.kernels.genome.simulate import balding_nichols
from osler.workers.settings import Settings

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
PLINK_PEERS = {
    "ibs": ("plink1.9", ["--distance", "square", "bin", "ibs", "flat-missing"], {}),
    "grm": ("plink2", ["--make-rel", "square", "bin"], {"LD_LIBRARY_PATH": OPENBLAS_DIR}),
    "king": ("plink2", ["--make-king", "square", "bin"], {"LD_LIBRARY_PATH": OPENBLAS_DIR}),
}
SGKIT_PEERS = {"ibs": "identity_by_state", "grm": "genomic_relationship",
               "king": "pc_relate"}
ONE_BLAS_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                          "MKL_NUM_THREADS")}


class PeakRss:
    """Samples the summed RSS of this process's descendants (the whole embedded stack)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def write_bed_zip(genotypes: np.ndarray, folder: Path) -> Path:
    from bed_reader import to_bed

    values = genotypes.astype(np.float32)
    values[genotypes < 0] = np.nan  # bed_reader's missing call
    to_bed(folder / "cohort.bed", values, num_threads=2)
    archive = folder / "cohort.zip"
    subprocess.run(["zip", "-q", "-j", "-0", str(archive),
                    *(str(folder / f"cohort.{ext}") for ext in ("bed", "bim", "fam"))], check=True)
    return archive


def time_service(client: OslerClient, dataset_id: str, metric: str, repeats: int,
                 **extra: str) -> tuple[float, dict[str, float]]:
    """Median seconds POST -> succeeded, and the phases of the last job (where its time went)."""
    times = []
    phases: dict[str, float] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        job = client.submit(
            "genome-distance", {"dataset": dataset_id, "metric": metric, "plots": False,
                                **extra}
        )
        done = client.wait(job["id"])
        elapsed = time.perf_counter() - start
        if done["state"] != "succeeded":
            raise SystemExit(f"service job {done['state']}: {done['error']}")
        times.append(elapsed)
        phases = done["result"].get("phase_seconds", {})
    return statistics.median(times), phases


def time_extension(client: OslerClient, inputs: dict[str, Path], root: Path, grown: np.ndarray,
                   args: argparse.Namespace) -> None:
    """The job of n + K samples extending the job of the first n, against the full n + K job."""
    grown_dir = root / "grown"
    grown_dir.mkdir()
    grown_inputs = {"npy": grown_dir / "cohort.npy"}
    np.save(grown_inputs["npy"], grown)
    if "bed" in args.formats:
        grown_inputs["bed"] = write_bed_zip(grown, grown_dir)
    n, total = grown.shape[0] - args.extends, grown.shape[0]
    for fmt in args.formats:
        first = client.upload(inputs[fmt])
        dataset = client.upload(grown_inputs[fmt])
        for metric in args.metrics:
            job = client.submit("genome-distance", {"dataset": first["id"], "metric": metric,
                                                    "plots": False})
            earlier = client.wait(job["id"])
            if earlier["state"] != "succeeded":
                raise SystemExit(f"service job {earlier['state']}: {earlier['error']}")
            time_service(client, dataset["id"], metric, 1, extends=earlier["id"])  # warm-up
            times: dict[tuple[str, str], list[float]] = {}
            phases: dict[tuple[str, str], dict[str, float]] = {}
            for _ in range(args.repeats):
                # A new upload has an empty cache: its first job reads (counts, digests) every
                # call; the dataset already used has them cached beside it.
                fresh = {job: client.upload(grown_inputs[fmt])["id"] for job in ("full", "ext")}
                for upload, ids in (("new upload", fresh),
                                    ("used dataset", dict.fromkeys(fresh, dataset["id"]))):
                    for job, extra in (("full", {}), ("ext", {"extends": earlier["id"]})):
                        os.sync()
                        took, phases[upload, job] = time_service(client, ids[job], metric, 1,
                                                                 **extra)
                        times.setdefault((upload, job), []).append(took)
            for upload in ("new upload", "used dataset"):
                full_s = statistics.median(times[upload, "full"])
                ext_s = statistics.median(times[upload, "ext"])
                print(f"osler {metric} from .{fmt}, {total} samples, {upload} (median of "
                      f"{args.repeats}, alternating): full job {full_s:.2f} s, extends the job of "
                      f"the first {n} {ext_s:.2f} s: extension / full {ext_s / full_s:.1%} "
                      "(target <= 25 %)", flush=True)
                for label in ("full", "ext"):
                    print(f"      {label} job phases (s): " + ", ".join(
                        f"{k} {v:.2f}" for k, v in phases[upload, label].items()))


def time_plink(metric: str, bfile: Path, out: Path, repeats: int) -> float | None:
    """Median seconds of the metric's PLINK peer over ``repeats`` runs (None if not installed)."""
    peer = PLINK_PEERS.get(metric)
    if peer is None or shutil.which(peer[0]) is None:
        return None
    binary, extra, env_extra = peer
    if env_extra.get("LD_LIBRARY_PATH") and not Path(OPENBLAS_DIR).exists():
        return None
    command = [binary, "--bfile", str(bfile), *extra, "--threads", "2", "--out", str(out)]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, **env_extra})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_alternating(client: OslerClient, dataset_id: str, metric: str, root: Path,
                     repeats: int) -> tuple[float, dict[str, float], float]:
    """Median seconds of osler and of the metric's PLINK peer, run one after the other."""
    service, peer = [], []
    phases: dict[str, float] = {}
    for _ in range(repeats):
        plink_s = time_plink(metric, root / "cohort", root / f"plink-{metric}", 1)
        if plink_s is None:
            raise SystemExit(f"no PLINK peer installed for {metric}")
        peer.append(plink_s)
        os.sync()
        service_s, phases = time_service(client, dataset_id, metric, 1)
        service.append(service_s)
    return statistics.median(service), phases, statistics.median(peer)


def time_cold_first_job(settings: Settings, inputs: dict[str, Path],
                        args: argparse.Namespace) -> None:
    """The first job of a freshly started stack (cold Dask workers) vs the same job warm.

    A first stack uploads the dataset and runs each metric's job once (the dataset's counts and
    digests go to its calls cache), then stops; a second one, on the same data directory, waits
    ``--settle`` seconds, then times each metric's job once (its first), ``--repeats`` times
    more (warm) and once more after as long an idle spell. Every timed job takes the cached
    counts and digests: what differs is only that the stack has just started (as
    ``bench/drug_similarity.py --cold`` does with the fingerprint cache).
    """
    fmt = args.formats[-1]
    with EmbeddedStack(settings, port=free_port()) as stack:
        client = OslerClient(stack.url, stack.create_token("bench"))
        dataset = client.upload(inputs[fmt])
        for metric in args.metrics:
            time_service(client, dataset["id"], metric, 1)
    with EmbeddedStack(settings, port=free_port()) as stack:
        client = OslerClient(stack.url, stack.create_token("bench"))
        time.sleep(args.settle)
        for metric in args.metrics:
            cold_s, cold_phases = time_service(client, dataset["id"], metric, 1)
            warm_s, warm_phases = time_service(client, dataset["id"], metric, args.repeats)
            time.sleep(args.settle)  # the same job once more, after as long an idle spell
            idle_s, idle_phases = time_service(client, dataset["id"], metric, 1)
            print(f"osler {metric} from .{fmt}: first job {cold_s:.2f} s, warm (median of "
                  f"{args.repeats}) {warm_s:.2f} s: cold / warm {cold_s / warm_s:.2f}x; after "
                  f"{args.settle:g} s idle {idle_s:.2f} s ({idle_s / warm_s:.2f}x)", flush=True)
            for label, phases in (("first", cold_phases), ("warm", warm_phases),
                                  ("after idle", idle_phases)):
                print(f"      {label} job phases (s): "
                      + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()))


def time_storage_backends(bed: Path, root: Path, args: argparse.Namespace) -> None:
    """Each metric's ``.bed`` job on a file store and on an S3 store, alternating."""
    from stores import BACKENDS, ratio_line, storage_stacks  # bench/stores.py, beside this

    print(f"load average before: {os.getloadavg()}", flush=True)
    with storage_stacks(root, list(BACKENDS)) as clients:
        datasets = {backend: client.upload(bed)["id"] for backend, client in clients.items()}
        for backend, client in clients.items():
            for metric in args.metrics:  # warm-up: numba caches, the Dask hosts' input cache
                time_service(client, datasets[backend], metric, 1)
        for metric in args.metrics:
            runs: dict[str, list[float]] = {backend: [] for backend in clients}
            phases: dict[str, dict[str, float]] = {}
            for _ in range(args.repeats):
                for backend, client in clients.items():
                    took, phases[backend] = time_service(client, datasets[backend], metric, 1)
                    runs[backend].append(took)
            for backend in clients:
                print(f"  {backend} runs {', '.join(f'{t:.2f}' for t in runs[backend])}; "
                      f"last phases {phases[backend]}")
            print(ratio_line(f"osler {metric} from .bed, n={args.n} m={args.m}, POST -> "
                             f"succeeded (median of {args.repeats})",
                             {b: statistics.median(t) for b, t in runs.items()}), flush=True)
    print(f"load average after: {os.getloadavg()}")


def time_sgkit(genotypes_npy: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    """Median seconds of each metric's sgkit peer (bench/sgkit_peer.py, in sgkit's Python)."""
    metrics = [metric for metric in args.metrics if metric in SGKIT_PEERS]
    for metric in sorted(set(args.metrics) - set(metrics)):
        print(f"sgkit: no peer for {metric}")
    if not metrics:
        return {}
    python = Path(args.sgkit_python)
    if not python.exists():
        raise SystemExit(f"--sgkit: no {python}; make it with: python3 -m venv .venv-sgkit && "
                         ".venv-sgkit/bin/pip install sgkit")
    out.mkdir()
    command = [str(python), str(Path(__file__).with_name("sgkit_peer.py")), str(genotypes_npy),
               str(out), "--metrics", *metrics, "--repeats", str(args.repeats), "--threads", "2",
               "--chunks", *(str(c) for c in args.sgkit_chunks)]
    done = subprocess.run(command, check=True, capture_output=True, text=True,
                          env={**os.environ, **ONE_BLAS_THREAD})
    medians = {}
    for line in done.stdout.splitlines():
        run = json.loads(line)
        medians[run["metric"]] = statistics.median(run["seconds"])
        print(f"sgkit {run['sgkit']} {run['metric']}: {run['function']}, dask {run['dask']} "
              f"threads={run['threads']}, chunks (variants, samples) {tuple(run['chunks'])} "
              f"(median of {args.repeats}): {medians[run['metric']]:.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in run['seconds'])})", flush=True)
    return medians


def osler_matrices(client: OslerClient, dataset_id: str, metrics: list[str], n: int,
                   folder: Path) -> dict[str, np.ndarray]:
    """One more (untimed) job per metric; its float64 PLINK ``.bin`` matrix."""
    folder.mkdir()
    matrices = {}
    for metric in metrics:
        submitted = client.submit("genome-distance", {"dataset": dataset_id, "metric": metric,
                                                      "plots": False})
        job = client.wait(submitted["id"])
        if job["state"] != "succeeded":
            raise SystemExit(f"service job {job['state']}: {job['error']}")
        name = job["result"]["files"]["plink_bin"]
        path = client.download(job["id"], name, folder / name)
        matrices[metric] = np.fromfile(path, dtype=np.float64).reshape(n, n)
    return matrices


def _max_abs(a: np.ndarray, b: np.ndarray) -> str:
    diff = a - b
    off = diff[~np.eye(a.shape[0], dtype=bool)]
    return (f"max |diff| {np.nanmax(np.abs(diff)):.3g} (off-diagonal {np.nanmax(np.abs(off)):.3g}"
            f", mean off-diagonal diff {np.nanmean(off):+.3g})")


def compare_sgkit(genotypes: np.ndarray, sgkit_dir: Path, osler: dict[str, np.ndarray]) -> None:
    """How far each sgkit matrix is from osler's, and the formula that accounts for it."""
    called = (genotypes >= 0).astype(np.float32)
    for metric, theirs in osler.items():
        ours = np.load(sgkit_dir / f"{metric}.npy")
        print(f"sgkit {SGKIT_PEERS[metric]} vs osler {metric}: different quantity, "
              f"{_max_abs(ours, theirs)}")
        if metric == "ibs":
            het = (genotypes == 1).astype(np.float32)
            both_het = (het @ het.T) / (called @ called.T)
            print("      sgkit + 1/2 x (share of the variants called in both where both are "
                  f"het) vs osler ibs: {_max_abs(ours + 0.5 * both_het, theirs)}; "
                  f"sgkit's diagonal {np.diag(ours).min():.4f}..{np.diag(ours).max():.4f} "
                  f"(1 - het share / 2), osler's {np.diag(theirs).min():.4f}.."
                  f"{np.diag(theirs).max():.4f}")
        elif metric == "grm":
            counts = np.where(genotypes >= 0, genotypes, 0).astype(np.float32)
            p = (counts.sum(axis=0, dtype=np.float64)
                 / (2.0 * called.sum(axis=0, dtype=np.float64))).astype(np.float32)
            centred = called * (counts - 2.0 * p)
            del counts
            vanraden = (centred @ centred.T) / ((called * (2.0 * p)) @ (called * (1.0 - p)).T)
            del centred
            print("      sgkit vs VanRaden's formula in numpy (sum over variants called in both "
                  "of (g_i - 2p)(g_j - 2p) / sum of 2p(1 - p), float32): "
                  f"{_max_abs(ours, vanraden)}")
        elif metric == "king":
            off = ~np.eye(ours.shape[0], dtype=bool)
            print(f"      diagonal: sgkit {np.diag(ours).mean():.4f} (mean), osler "
                  f"{np.diag(theirs).mean():.4f}; off-diagonal mean sgkit "
                  f"{ours[off].mean():+.4f}, osler {theirs[off].mean():+.4f}, correlation "
                  f"{np.corrcoef(ours[off], theirs[off])[0, 1]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--m", type=int, default=100_000)
    parser.add_argument("--metrics", nargs="+", default=["dot", "ibs", "grm"])
    parser.add_argument("--formats", nargs="+", default=["npy", "bed"], choices=["npy", "bed"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--missing", type=float, default=0.0,
                        help="share of calls missing (uniformly at random)")
    parser.add_argument("--no-peers", action="store_true", help="skip numpy and PLINK")
    parser.add_argument("--cold", action="store_true",
                        help="time the first job of a fresh stack against the same job warm")
    parser.add_argument("--alternate", action="store_true",
                        help="run each PLINK peer once before each osler job (the ratio then "
                             "sees the same load on this shared machine) instead of all first")
    parser.add_argument("--extends", type=int, default=0, metavar="K",
                        help="time a job of n + K samples extending the job of the first n "
                             "against the full job of n + K (no peers)")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="with --cold: seconds to wait after start-up before the first job "
                             "(the Dask workers finish starting meanwhile)")
    parser.add_argument("--storage", choices=["s3"],
                        help="time the .bed jobs on s3:// against file:// in one run")
    parser.add_argument("--sgkit", action="store_true",
                        help="also time sgkit's identity_by_state / genomic_relationship / "
                             "pc_relate on the same genotypes and compare their matrices")
    parser.add_argument("--sgkit-python", default=".venv-sgkit/bin/python",
                        help="the Python of an environment with sgkit (default: %(default)s)")
    parser.add_argument("--sgkit-chunks", type=int, nargs=2, default=[10_000, 1_000],
                        metavar=("VARIANTS", "SAMPLES"),
                        help="dask chunks of sgkit's call_genotype (default: 10000 1000)")
    args = parser.parse_args()
    if args.sgkit and (args.cold or args.extends or args.storage):
        parser.error("--sgkit times warm jobs: not with --cold, --extends or --storage")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        genotypes, _ = balding_nichols(args.n + args.extends, args.m, seed=1,
                                       missing_rate=args.missing)
        grown, genotypes = genotypes, genotypes[:args.n]
        inputs = {"npy": root / "cohort.npy"}
        np.save(inputs["npy"], genotypes)
        if "bed" in args.formats:
            inputs["bed"] = write_bed_zip(genotypes, root)
        print(f"cohort: {args.n} samples x {args.m} variants (Balding-Nichols, 3 populations), "
              f"{float((genotypes < 0).mean()):.2%} missing calls")

        if args.storage:
            bed = inputs.get("bed") or write_bed_zip(genotypes, root)
            time_storage_backends(bed, root, args)
            return
        numpy_s = None
        if not args.no_peers and not args.extends:
            a = genotypes.astype(np.float32)
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                d = a @ a.T
                d /= a.shape[1]
                runs.append(time.perf_counter() - start)
            numpy_s = statistics.median(runs)
            del a, d
            print(f"numpy float32 A @ A.T / m, in memory (median of {args.repeats}): "
                  f"{numpy_s:.2f} s")
            # PLINK reads the .bed fileset, which only --formats bed writes
            for metric in [] if args.alternate or "bed" not in inputs else args.metrics:
                plink_s = time_plink(metric, root / "cohort", root / f"plink-{metric}",
                                     args.repeats)
                if plink_s is not None:
                    PLINK_PEERS[metric] += (plink_s,)
                    print(f"{PLINK_PEERS[metric][0]} {metric} (median of {args.repeats}): "
                          f"{plink_s:.2f} s")
        sgkit_s = time_sgkit(inputs["npy"], root / "sgkit", args) if args.sgkit else {}

        settings = Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                                    dask_scheduler=None)
        if args.cold:
            time_cold_first_job(settings, inputs, args)
            return
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            small_dir = root / "small"
            small_dir.mkdir()
            np.save(small_dir / "cohort.npy", genotypes[:64, :1000])
            smalls = [client.upload(small_dir / "cohort.npy")]
            if "bed" in args.formats:
                smalls.append(client.upload(write_bed_zip(genotypes[:64, :1000], small_dir)))
            for small in smalls:  # warm-up: numba caches and imports in every process
                for metric in args.metrics:
                    time_service(client, small["id"], metric, 2)
            if args.extends:
                with PeakRss() as rss:
                    time_extension(client, inputs, root, grown, args)
                print(f"peak RSS summed over the stack's processes: {rss.peak / 2**30:.2f} GiB")
                return
            with PeakRss() as rss:
                for fmt in args.formats:
                    dataset = client.upload(inputs[fmt])
                    for metric in args.metrics:
                        os.sync()  # earlier jobs' output is on disk, not being written back
                        if args.alternate and not args.no_peers and metric in PLINK_PEERS:
                            service_s, phases, plink_s = time_alternating(
                                client, dataset["id"], metric, root, args.repeats)
                            PLINK_PEERS[metric] = PLINK_PEERS[metric][:3] + (plink_s,)
                            print(f"{PLINK_PEERS[metric][0]} {metric}, alternating with osler "
                                  f"(median of {args.repeats}): {plink_s:.2f} s")
                        else:
                            service_s, phases = time_service(client, dataset["id"], metric,
                                                             args.repeats)
                        line = (f"osler {metric:<5} from .{fmt:<3} POST -> succeeded "
                                f"(median of {args.repeats}): {service_s:.2f} s")
                        if metric == "dot" and numpy_s:
                            line += f"   osler/numpy {service_s / numpy_s:.2f}x"
                        peer = PLINK_PEERS.get(metric, ())
                        if len(peer) == 4:
                            line += f"   {peer[0]}/osler {peer[3] / service_s:.2f}x faster"
                        print(line, flush=True)
                        print("      phases (s): " + ", ".join(f"{k} {v:.2f}"
                                                              for k, v in phases.items()))
                        if metric in sgkit_s:
                            print(f"      sgkit {SGKIT_PEERS[metric]} {sgkit_s[metric]:.2f} s: "
                                  f"sgkit/osler {sgkit_s[metric] / service_s:.2f}x faster "
                                  "(not the same quantity: see the comparison at the end)",
                                  flush=True)
            print(f"peak RSS summed over the stack's processes: {rss.peak / 2**30:.2f} GiB")
            osler = (osler_matrices(client, dataset["id"], list(sgkit_s), args.n, root / "osler")
                     if sgkit_s else {})
        if osler:
            compare_sgkit(genotypes, root / "sgkit", osler)


if __name__ == "__main__":
    main()
