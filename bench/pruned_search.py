"""The pruned top-k kernel alone, on one core: 200 MOSES test molecules against 300,000 MOSES
training molecules (Morgan radius 2, 2048 bits), k = 10, threshold 0 and 0.6.

Run from the repository root (MOSES comes from ``pip install --no-deps molsets``)::

    python bench/pruned_search.py [--library 300000] [--queries 200] [--repeats 7] [--rev REV]

Prints, per threshold, the median and fastest of ``--repeats`` calls of
:func:`osler.kernels.molecules.pruned.pruned_top_k` and the pairs it scored. The fingerprints are
computed first (about a minute) and sorted by popcount as a cache entry is. With ``--rev``,
``kernels/molecules/pruned.py`` as it was at that git revision is loaded beside this checkout's
and both run alternately (``bench/versus.py``): top-k at threshold 0 and 0.6, and the threshold
search at 0.7 of the same queries, after checking both give the same results. The service
figures against FPSim2 come from ``bench/drug_similarity.py --fpsim2``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np
from drug_similarity import _moses_split  # bench/drug_similarity.py, beside this
from versus import alternate, load_revision  # bench/versus.py, beside this

from osler.kernels.molecules import pruned
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.fingerprints import FingerprintSpec, fingerprint_texts
from osler.kernels.molecules.popcount_order import popcount_order


def _sorted(smiles: list[str], folder: Path):
    folder.mkdir()
    np.save(folder / "fingerprints.npy", fingerprint_texts(smiles, FingerprintSpec())[0])
    return popcount_order(folder / "fingerprints.npy")


def _found(search: Callable[[], tuple]) -> tuple:
    """A top-k search's scores and rows (what it finds; how many pairs it scored may differ)."""
    return search()[:2]


def _sorted_pairs(search: Callable[[], tuple]) -> tuple:
    """A threshold search's pairs in one order (it returns them in none)."""
    q, j, s, _ = search()
    order = np.lexsort((j, q))
    return q[order], j[order], s[order]


def _versus(old: ModuleType, queries: tuple, library: tuple, repeats: int) -> list[str]:
    """Both kernels alternately (``bench/versus.py``): top-k k = 10 at threshold 0 and 0.6, and
    the threshold search at 0.7."""
    q, q_counts, q_words = queries
    lib, l_counts, l_words, l_rows = library
    kernels = {}
    for t in (None, 0.6):
        kernels[f"top-k threshold {t or 0}"] = tuple(
            partial(_found, partial(m.pruned_top_k, q, q_counts, lib, l_counts, l_rows, 10,
                                    threshold=t, query_words=q_words, library_words=l_words))
            for m in (old, pruned))
    kernels["threshold 0.7"] = tuple(
        partial(_sorted_pairs, partial(m.pruned_threshold, q, q_counts, lib, l_counts, 0.7,
                                       query_words=q_words, library_words=l_words))
        for m in (old, pruned))
    return alternate(kernels, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rev", help="also run pruned.py of this git revision, alternately")
    args = parser.parse_args()
    old = load_revision(args.rev, "kernels/molecules/pruned.py") if args.rev else None
    library = _moses_split("train", args.library)
    in_library = set(library)
    queries = [s for s in _moses_split("test", args.queries * 2)
               if s not in in_library][:args.queries]
    similarity.set_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        lib_order = _sorted(library, Path(tmp) / "library")
        q_order = _sorted(queries, Path(tmp) / "queries")
        q, q_words, q_counts, _ = q_order.block(0, len(queries))
        lib, l_words, l_counts, l_rows = lib_order.block(0, len(library))
        if old is not None:
            print(f"{len(queries)} queries x {len(library)}, one core, {args.rev} (old) and "
                  f"this checkout (new), medians of {args.repeats}:")
            print("\n".join(_versus(old, (q, q_counts, q_words), (lib, l_counts, l_words, l_rows),
                                     args.repeats)), flush=True)
        for threshold in (None, 0.6):
            times = []
            for _ in range(args.repeats + 1):  # the first call loads (or compiles) the kernel
                start = time.perf_counter()
                _, _, computed = pruned.pruned_top_k(q, q_counts, lib, l_counts, l_rows, 10,
                                                     threshold=threshold, query_words=q_words,
                                                     library_words=l_words)
                times.append(time.perf_counter() - start)
            print(f"threshold {threshold or 0}: {len(queries)} queries x {len(library)}, one "
                  f"core: median {np.median(times[1:]):.3f} s, fastest {min(times[1:]):.3f} s, "
                  f"{computed:,} pairs scored", flush=True)
        del q, q_words, lib, l_words, l_rows


if __name__ == "__main__":
    main()
