"""What uploading a genome job's matrices costs the co-located S3 server and the client.

Run from the repository root::

    python bench/store_upload.py

Starts the tests' SeaweedFS (``tests/object_store.py``) on free ports, then puts a 2000 x 2000
float32 ``matrix.npy`` (16 MB) and float64 ``.bin`` (32 MB) — the job's outputs at n = 2,000 —
five times, as the runner publishes them (one s3fs ``put`` of both), and prints the wall time and
the CPU seconds of the ``weed`` process and of this client for each. Results in bench/README.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.object_store import seaweedfs  # noqa: E402  (the checkout's test server)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        npy, binary = root / "matrix.npy", root / "matrix.ibs.bin"
        rng = np.random.default_rng(0)
        np.save(npy, rng.random((2000, 2000), dtype=np.float32))
        rng.random((2000, 2000)).tofile(binary)
        size = npy.stat().st_size + binary.stat().st_size
        with seaweedfs(root / "weed") as s3:
            weed = next(p for p in psutil.process_iter(["name"]) if p.info["name"] == "weed")
            me = psutil.Process()
            fs = s3.filesystem()
            for round_ in range(6):
                server, client, start = _cpu(weed), _cpu(me), time.perf_counter()
                fs.put([str(npy), str(binary)],
                       [f"{s3.bucket}/{round_}/{npy.name}", f"{s3.bucket}/{round_}/{binary.name}"])
                wall = time.perf_counter() - start
                label = "warm-up" if round_ == 0 else f"upload {round_}"
                print(f"{label}: {size / 1e6:.0f} MB in {wall:.3f} s; weed CPU "
                      f"{_cpu(weed) - server:.3f} s, client CPU {_cpu(me) - client:.3f} s",
                      flush=True)


if __name__ == "__main__":
    main()
