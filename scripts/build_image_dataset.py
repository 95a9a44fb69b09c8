"""Build osler's sample medical image dataset (MedMNIST .npz layout) from bundled real images.

Patches are cut from pydicom's bundled test DICOM files (CT, MR, ultrasound) and scikit-image's
immunohistochemistry, retina and cell images, labelled by modality or stain. Nothing is downloaded.

    python scripts/build_image_dataset.py sample_images.npz --size 28 --per-class 100 --seed 0
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from osler.kernels.imaging.sample_data import CLASSES, build_sample_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .npz file to write")
    parser.add_argument("--size", type=int, default=28, help="patch side in pixels (28-224)")
    parser.add_argument("--per-class", type=int, default=100, help="patches per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rgb", action="store_true", help="colour patches (H x W x 3)")
    parser.add_argument("--classes", nargs="+", choices=CLASSES, default=None,
                        help="a subset of the classes (default: all)")
    args = parser.parse_args(argv)
    summary = build_sample_dataset(args.out, size=args.size, per_class=args.per_class,
                                   seed=args.seed, rgb=args.rgb, classes=args.classes)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
