"""The genome popcount kernels of this checkout against those of an earlier git revision, both
loaded in this process and run alternately on one core, so both see the same machine load.

Run from the repository root::

    python bench/gram_versus.py                  # against main
    python bench/gram_versus.py --rev 4e0061b --repeats 15

``kernels/genome/gram.py`` of ``--rev`` is read with ``git show`` and imported as a separate
module (it uses :mod:`osler.kernels.bits` of this checkout for ``popcount64`` only). Two 1000-row
blocks of random bit planes, 100,000 variants, 2 % missing calls (as ``bench/popcount_gram.py``).
Per round each kernel runs once, old then new, in the order listed; the script checks old and
new agree exactly and prints medians, their ratio, and the load average before and after.

- ``king``: KING's four counts the way ``king_tile`` computes them with missing calls (the
  old revision: five AND terms in four passes; this checkout: what ``king_tile`` now calls),
- ``ibs``: the fused missing-call distance counts (``distance_counts`` with its defaults),
- ``two``: the two AND terms of ``ibs`` on a cohort without missing calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from osler.kernels.genome import gram as new

sys.path.insert(0, str(Path(__file__).resolve().parent))
from popcount_gram import pack_missing  # noqa: E402
from versus import alternate, load_revision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="main")
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    old = load_revision(args.rev, "kernels/genome/gram.py")

    rows, words = 1000, 1563
    rng = np.random.default_rng(0)
    h1, h2 = (rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64) for _ in range(2))
    l1 = h1 & rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    l2 = h2 & rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    p1, p2 = (~pack_missing(rng, h.shape) for h in (h1, h2))
    h1, l1, h2, l2 = h1 & p1, l1 & p1, h2 & p2, l2 & p2
    e1, r1, e2, r2 = h1 & ~l1, p1 & ~h1, h2 & ~l2, p2 & ~h2
    left, right = np.stack([h1, l1, p1]), np.stack([h2, l2, p2])

    def king_old() -> np.ndarray:
        g = old.gram_counts
        return np.stack([g([l1, r1], [r2, l2], False), g([e1], [e2], False),
                         g([e1], [p2], False), g([p1], [e2], False)])

    def king_new() -> np.ndarray:
        g = new.gram_counts
        return np.stack([new.opposite_counts((l1, r1), (l2, r2), False), g([e1], [e2], False),
                         g([e1], [p2], False), g([p1], [e2], False)])

    kernels = {
        "king": (king_old, king_new),
        "ibs": (lambda: np.stack(old.distance_counts(left, right, False)),
                lambda: np.stack(new.distance_counts(left, right, False))),
        "two": (lambda: old.gram_counts([h1, l1], [h2, l2], False),
                lambda: new.gram_counts([h1, l1], [h2, l2], False)),
    }
    print(f"{rows} x {rows} rows, {words} words, 2 % missing calls, one core, alternating, "
          f"median of {args.repeats}; old = {args.rev}")
    print("\n".join(alternate(kernels, args.repeats)))


if __name__ == "__main__":
    main()
