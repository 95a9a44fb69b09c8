"""Kernel-level drug-similarity benchmark: RDKit BulkTanimotoSimilarity vs osler's popcount kernel.

Run from the repository root::

    python bench/drug_kernels.py [--n 20000] [--queries 200] [--job]

Same fingerprints for both (Morgan radius 2, 2048 bits, from RDKit's bundled NCI set, repeated to
``--n`` rows — the kernel's speed does not depend on which molecules they are). Prints
comparisons per second and the ratio, both measured in this one run. ``--job`` also times
``run_drug_similarity`` all-pairs on ``--n`` molecules in-process (no service, no Dask).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels import similarity  # noqa: E402
from kernels.fingerprints import FingerprintSpec, fingerprint_texts  # noqa: E402


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
        from kernels.drug_similarity import run_drug_similarity

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


if __name__ == "__main__":
    main()
