"""``osler demo``: the embedded stack doing a real genome-distance job end to end."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np

from workers.settings import Settings

from .client import OslerClient
from .embedded import EmbeddedStack, demo_dir, free_port

DEMO_SAMPLES = 300
DEMO_VARIANTS = 20_000


def run_demo(settings: Settings) -> int:
    """Start the stack, compute a distance matrix, fetch it, stop, exit 0."""
    from kernels.genotype_simulation import balding_nichols

    root = demo_dir(settings)
    shutil.rmtree(root, ignore_errors=True)
    demo_settings = settings.with_changes(data_dir=root / "service", redis_url=None)
    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    genotypes, _ = balding_nichols(DEMO_SAMPLES, DEMO_VARIANTS, seed=7)
    np.save(inputs / "cohort.npy", genotypes)
    print(
        f"simulated {DEMO_SAMPLES} samples x {DEMO_VARIANTS} variants "
        "(three populations, Balding-Nichols)",
        file=sys.stderr,
    )
    print("starting the embedded stack (Redis, Dask, workers, gateway)...", file=sys.stderr)
    with EmbeddedStack(demo_settings, port=free_port()) as stack:
        client = OslerClient(stack.url, stack.create_token("demo"))
        dataset = client.upload(inputs / "cohort.npy")
        job = client.submit("genome-distance", {"dataset": dataset["id"], "metric": "dot"})
        print(f"job {job['id']} queued", file=sys.stderr)
        from .cli import _watch

        job = _watch(client, job["id"])
        if job["state"] != "succeeded":
            print(f"the demo job {job['state']}: {job.get('error')}", file=sys.stderr)
            return 1
        out = root / "result"
        out.mkdir()
        for artifact in job["artifacts"]:
            client.download(job["id"], artifact["name"], out / artifact["name"])
        (out / "result.json").write_text(json.dumps(job["result"], indent=2))
    matrix = np.load(out / "matrix.npy")
    print(f"distance matrix {matrix.shape[0]} x {matrix.shape[1]} written to {out}")
    for artifact in job["artifacts"]:
        print(f"  {out / artifact['name']}  ({artifact['media_type']}, {artifact['size']} bytes)")
    return 0
