"""Writing a threshold job's ``hits.csv``: this checkout against an earlier git revision, in one
process, alternately.

Run from the repository root (MOSES comes from ``pip install --no-deps molsets``)::

    python bench/hits_csv.py --rev REV [--library 50000] [--threshold 0.7] [--repeats 7]

The data is that of ``bench/drug_similarity.py --fpsim2``'s threshold search: the first
``--library`` MOSES training molecules against themselves at ``--threshold`` (Morgan radius 2,
2048 bits). The script fingerprints them into a cache entry (about a minute), finds the pairs
with the pruned search, and builds the job's hits as ``run_drug_similarity`` does (each
unordered pair listed for both molecules). It then writes ``hits.csv`` with
``kernels/molecules/similarity_job.py``'s ``_write_hits`` at ``--rev`` (read with ``git show``,
see ``bench/versus.py``) and at this checkout, alternately. It checks that both files are
byte-identical and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drug_similarity import _moses_split, _write_smi  # noqa: E402
from versus import alternate, load_revision  # noqa: E402

from osler.kernels.molecules import similarity_job  # noqa: E402
from osler.kernels.molecules.fingerprints import FingerprintSpec, dataset_fingerprints  # noqa: E402
from osler.kernels.molecules.popcount_order import popcount_order  # noqa: E402
from osler.kernels.molecules.pruned import pruned_threshold  # noqa: E402


def _written(write_hits, path: Path, molecules, hits) -> bytes:
    """The bytes ``write_hits`` writes for a library searched against itself."""
    write_hits(path, molecules, molecules, hits)
    return path.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True)
    parser.add_argument("--library", type=int, default=50_000)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    old = load_revision(args.rev, "kernels/molecules/similarity_job.py")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        smi = _write_smi(root / "library.smi", _moses_split("train", args.library))
        molecules = dataset_fingerprints(
            smi, sha256=hashlib.sha256(smi.read_bytes()).hexdigest(), cache_dir=root / "cache",
            spec=FingerprintSpec())
        order = popcount_order(molecules.fps_path)
        fps, words, counts, rows = order.block(0, len(molecules))
        qi, lj, scores, _ = pruned_threshold(fps, counts, fps, counts, args.threshold,
                                             upper_from=0, query_words=words,
                                             library_words=words)
        q, lib = rows[qi], rows[lj]
        q, lib, scores = np.concatenate([q, lib]), np.concatenate([lib, q]), np.concatenate(
            [scores, scores])
        hits = similarity_job.Hits.from_pairs(len(molecules), q, lib, scores)
        print(f"{len(molecules)} molecules against themselves at {args.threshold}: "
              f"{len(qi):,} pairs, {len(hits.rows):,} rows of hits.csv; {args.rev} (old) and "
              f"this checkout (new), medians of {args.repeats}:", flush=True)
        kernels = {"hits.csv": (
            partial(_written, old._write_hits, root / "old.csv", molecules, hits),
            partial(_written, similarity_job._write_hits, root / "new.csv", molecules, hits))}
        print("\n".join(alternate(kernels, args.repeats)), flush=True)
        del fps, words, rows


if __name__ == "__main__":
    main()
