"""The .bed reading kernels of this checkout against those of an earlier git revision, both
loaded in this process and run alternately on one core, so both see the same machine load.

Run from the repository root::

    python bench/bed_versus.py --rev 07cac7c [--repeats 11]

``kernels/genome/bed.py`` of ``--rev`` is read with ``git show`` and imported as a separate
module. The cohort is what a job reads: a Balding-Nichols ``.bed`` of 2,200 samples x 100,000
variants with 2 % of calls missing, written to a file and memory-mapped (:func:`~osler.kernels.
genome.bed.bed_rows`, as every tile and count maps it). Each round runs every part once, old then
new; the script checks both give the same planes and counts, and prints medians, their ratio and
the load average before and after. The parts are those of a genome job: packing an extension's
200 new samples (2000:2200), half of its old ones (0:1000), every sample (a full job's band),
and counting the 200 new samples and all of them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from osler.kernels.genome import bed as new
from osler.kernels.genome.simulate import balding_nichols

sys.path.insert(0, str(Path(__file__).resolve().parent))
from genome_distance import write_bed_zip  # noqa: E402
from versus import alternate, load_revision  # noqa: E402


def parts(module: ModuleType, rows: np.ndarray, n: int,
          n_old: int) -> dict[str, Callable[[], tuple[np.ndarray, ...]]]:
    """Each part as a function returning what it computed (to compare old and new)."""
    m = rows.shape[0]
    keep = np.arange(m, dtype=np.int64)
    words = (m + 63) // 64

    def pack(s0: int, s1: int) -> Callable[[], tuple[np.ndarray, ...]]:
        def run() -> tuple[np.ndarray, ...]:
            out = np.zeros((3, s1 - s0, words), dtype=np.uint64)
            module.pack_bed_samples(rows, n, keep, s0, s1, out)
            return (out,)
        return run

    def count(first: int) -> Callable[[], tuple[np.ndarray, ...]]:
        def run() -> tuple[np.ndarray, ...]:
            called, allele_sum = np.zeros(m, np.int64), np.zeros(m, np.int64)
            module.count_bed_rows(rows, n, called, allele_sum, first)
            return called, allele_sum
        return run

    return {f"pack the {n - n_old} new samples": pack(n_old, n),
            f"pack samples 0:{n_old // 2}": pack(0, n_old // 2),
            f"pack all {n} samples": pack(0, n),
            f"count the {n - n_old} new samples": count(n_old),
            f"count all {n} samples": count(0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="main")
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--n", type=int, default=2000, help="the earlier cohort's samples")
    parser.add_argument("--extends", type=int, default=200, help="samples added")
    parser.add_argument("--m", type=int, default=100_000)
    args = parser.parse_args()
    old = load_revision(args.rev, "kernels/genome/bed.py")
    n = args.n + args.extends
    with tempfile.TemporaryDirectory() as tmp:
        g, _ = balding_nichols(n, args.m, seed=1, missing_rate=0.02)
        write_bed_zip(g, Path(tmp))
        del g
        rows = new.bed_rows(str(Path(tmp) / "cohort.bed"), n, 0, args.m)
        kernels = {name: (a, b) for (name, a), b in zip(
            parts(old, rows, n, args.n).items(), parts(new, rows, n, args.n).values(),
            strict=True)}
        report = alternate(kernels, args.repeats, unit="ms")
        del rows
    print(f".bed of {n} samples x {args.m} variants, 2 % missing calls, memory-mapped, one core, "
          f"alternating, median of {args.repeats}; old = {args.rev}")
    print("\n".join(report))


if __name__ == "__main__":
    main()
