"""Build the ICD-10-CM text datasets (word2vec corpus, chapter CSV, code JSONL) offline.

    python scripts/build_icd10_datasets.py data/icd10cm [--limit N] [--seed 0]

See kernels/text/icd10.py for the file layout and the seeded 80/10/10 split by code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from osler.kernels.text.icd10 import build_icd10_datasets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the datasets into")
    parser.add_argument("--limit", type=int, default=None,
                        help="keep a seeded random sample of this many codes")
    parser.add_argument("--seed", type=int, default=0, help="seed for the sample and the split")
    args = parser.parse_args(argv)
    manifest = build_icd10_datasets(args.out_dir, limit=args.limit, seed=args.seed)
    print(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
