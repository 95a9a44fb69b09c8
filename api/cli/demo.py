"""``osler demo``: the embedded stack doing real jobs end to end, then exit 0.

``osler demo`` (or ``osler demo genome``) computes a genome distance matrix; ``osler demo models``
trains and queries an image classifier and a word2vec model. Each demo works under its own
folder (``<data dir>/demo/<name>/``) and clears only that one, so one never deletes another's.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from osler.api.cli.embedded import EmbeddedStack, demo_dir, free_port
from osler.api.cli.watch import watch_job
from osler.api.client import OslerClient
from osler.workers.settings import Settings

DEMO_SAMPLES = 300
DEMO_VARIANTS = 20_000
SALIENCY_MIN_PIXELS = 224
"""Saliency overlays are written at least this wide, upscaled by whole pixels (nearest)."""
WORD2VEC_PARAMS = {"vector_size": 100, "window": 8, "min_count": 5, "epochs": 20}
"""Settings under which ICD-10-CM's descriptions give neighbours that mean something
(diabetes: mellitus, diabetic, ketoacidosis; pneumonia: influenza, virus)."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(client: OslerClient, kind: str, params: dict[str, Any], out: Path) -> dict[str, Any]:
    """Submit, draw a progress bar until done, download every artifact into ``out``."""
    job = client.submit(kind, params)
    _say(f"{kind} job {job['id']} queued")
    job = watch_job(client, job["id"])
    if job["state"] != "succeeded":
        raise RuntimeError(f"the demo's {kind} job {job['state']}: {job.get('error')}")
    out.mkdir(parents=True, exist_ok=True)
    for artifact in job["artifacts"]:
        client.download(job["id"], artifact["name"], out / artifact["name"])
    (out / "result.json").write_text(json.dumps(job["result"], indent=2))
    return job


def _genome(client: OslerClient, inputs: Path, out: Path) -> None:
    from osler.kernels.genome.simulate import balding_nichols

    genotypes, _ = balding_nichols(DEMO_SAMPLES, DEMO_VARIANTS, seed=7)
    np.save(inputs / "cohort.npy", genotypes)
    _say(f"simulated {DEMO_SAMPLES} samples x {DEMO_VARIANTS} variants "
         "(three populations, Balding-Nichols)")
    dataset = client.upload(inputs / "cohort.npy")
    job = _run(client, "genome-distance", {"dataset": dataset["id"], "metric": "dot"}, out)
    matrix = np.load(out / "matrix.npy")
    print(f"distance matrix {matrix.shape[0]} x {matrix.shape[1]} written to {out}")
    for artifact in job["artifacts"]:
        print(f"  {out / artifact['name']}  ({artifact['media_type']}, {artifact['size']} bytes)")


def _models(client: OslerClient, inputs: Path, out: Path) -> None:
    from osler.kernels.imaging.sample_data import build_sample_dataset
    from osler.kernels.text.icd10 import build_icd10_datasets

    build_sample_dataset(inputs / "patches.npz", size=28, per_class=60, seed=0)
    _say("built a labelled image set from pydicom's and scikit-image's bundled images")
    dataset = client.upload(inputs / "patches.npz")
    job = _run(client, "train-image-classifier",
               {"dataset": dataset["id"], "architecture": "simple", "epochs": 15},
               out / "image-classifier")
    model_id = job["result"]["model_id"]
    print(f"image classifier {model_id}: test accuracy {job['result']['test_accuracy']:.3f}")
    with np.load(inputs / "patches.npz") as data:
        images, labels = data["test_images"][:3], data["test_labels"][:3, 0]
        class_names = [str(c) for c in data["class_names"]]
    answer = client.infer(model_id, "predict",
                          {"arrays": [img.tolist() for img in images], "explain": True})
    for index, (prediction, label) in enumerate(zip(answer["predictions"], labels, strict=True)):
        saliency = out / "image-classifier" / f"saliency-{index}.png"
        write_readable_png(base64.b64decode(prediction["saliency_png"]), saliency)
        print(f"  image {index}: true {class_names[label]}, predicted {prediction['label']} "
              f"(p={prediction['probabilities'][prediction['label']]:.2f}); saliency {saliency}")

    build_icd10_datasets(inputs / "icd10", limit=20_000, seed=0)
    corpus = client.upload(inputs / "icd10" / "icd10cm_corpus.txt")
    job = _run(client, "train-word2vec", {"dataset": corpus["id"], **WORD2VEC_PARAMS},
               out / "word2vec")
    model_id = job["result"]["model_id"]
    for word in ("diabetes", "pneumonia", "fracture"):
        similar = client.infer(model_id, "similar", {"word": word, "topn": 5})["similar"]
        print(f"  word2vec neighbours of {word!r}: "
              + ", ".join(f"{hit['word']} ({hit['similarity']:.2f})" for hit in similar))
    print(f"models demo results written to {out}")


def write_readable_png(png: bytes, target: Path) -> Path:
    """``png`` at least :data:`SALIENCY_MIN_PIXELS` wide, each pixel repeated (no smoothing)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    factor = max(1, -(-SALIENCY_MIN_PIXELS // min(image.size)))
    image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST).save(
        target, format="PNG")
    return target


def run_demo(settings: Settings, which: str = "genome") -> int:
    """Start the embedded stack, run the chosen demo, stop the stack; 0 when all went well."""
    root = demo_dir(settings) / which
    shutil.rmtree(root, ignore_errors=True)
    demo_settings = settings.with_changes(data_dir=root / "service", redis_url=None,
                                          dask_scheduler=None)
    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    _say("starting the embedded stack (Redis, Dask, workers, gateway)...")
    with EmbeddedStack(demo_settings, port=free_port()) as stack:
        client = OslerClient(stack.url, stack.create_token("demo"))
        try:
            (_genome if which == "genome" else _models)(client, inputs, root / "result")
        except RuntimeError as exc:
            _say(str(exc))
            return 1
    return 0
