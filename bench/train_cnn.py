"""Image classifier: training through the embedded service vs Keras directly; predict latency.

Run from the repository root::

    python bench/train_cnn.py                 # ~30 s trainings, 200 predict requests

Both trainings run the same kernel
(``osler.kernels.imaging.train.train_image_classifier``) on the same
data with the same seed; the service's worker is warmed up first (TensorFlow imported), so the
ratio is the service's overhead: upload-free POST -> queue -> worker -> artifacts -> registry.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from osler.api.cli.embedded import EmbeddedStack, free_port
from osler.api.client import OslerClient
from osler.kernels.imaging.sample_data import build_sample_dataset
from osler.workers.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=900)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    params = {"architecture": "simple", "epochs": args.epochs, "batch_size": 32,
              "early_stopping": False, "seed": 0}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info = build_sample_dataset(root / "patches.npz", size=28, per_class=args.per_class)
        print(f"dataset: {info['n_train']} train / {info['n_val']} val / {info['n_test']} test, "
              f"28x28, {len(info['class_names'])} classes; {args.epochs} epochs")

        from osler.kernels.imaging.train import train_image_classifier

        for name in ("warm", "direct"):
            (root / name).mkdir()
        train_image_classifier(root / "patches.npz", root / "warm", **{**params, "epochs": 1})
        start = time.perf_counter()
        direct = train_image_classifier(root / "patches.npz", root / "direct", **params)
        direct_s = time.perf_counter() - start
        print(f"Keras directly (same kernel, in process): {direct_s:.1f} s, "
              f"test accuracy {direct['test_accuracy']:.3f}")

        settings = Settings.from_env().with_changes(data_dir=root / "service", redis_url=None,
                                                    dask_scheduler=None)
        with EmbeddedStack(settings, port=free_port()) as stack:
            token = stack.create_token("bench")
            client = OslerClient(stack.url, token)
            dataset = client.upload(root / "patches.npz")
            warm = client.submit("train-image-classifier",
                                 {"dataset": dataset["id"], **params, "epochs": 1})
            client.wait(warm["id"])
            start = time.perf_counter()
            job = client.submit("train-image-classifier", {"dataset": dataset["id"], **params})
            done = client.wait(job["id"])
            service_s = time.perf_counter() - start
            assert done["state"] == "succeeded", done["error"]
            print(f"osler service POST -> succeeded:         {service_s:.1f} s, "
                  f"test accuracy {done['result']['test_accuracy']:.3f}")
            print(f"service overhead: {100 * (service_s / direct_s - 1):+.1f}% "
                  f"(ratio {service_s / direct_s:.3f})")
            from osler.workers.clock import parse_utc

            queued = parse_utc(done["started_at"]) - parse_utc(done["created_at"])
            ran = parse_utc(done["finished_at"]) - parse_utc(done["started_at"])
            print(f"  in the service: queued {queued.total_seconds():.2f} s, ran "
                  f"{ran.total_seconds():.1f} s (fit {done['result']['train_seconds']:.1f} s; "
                  f"directly: fit {direct['train_seconds']:.1f} s)")

            model_id = done["result"]["model_id"]
            with np.load(root / "patches.npz") as data:
                image = data["test_images"][0].tolist()
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
            url = f"{stack.url}/v1/models/{model_id}/predict"
            for _ in range(5):  # load the model into the predict worker
                session.post(url, json={"arrays": [image]}).raise_for_status()
            latencies = []
            for _ in range(args.requests):
                start = time.perf_counter()
                session.post(url, json={"arrays": [image]}).raise_for_status()
                latencies.append(1000 * (time.perf_counter() - start))
            latencies.sort()
            p95 = latencies[int(0.95 * len(latencies)) - 1]
            print(f"sync predict, one 28x28 image, {args.requests} requests: "
                  f"p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
