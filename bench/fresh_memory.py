"""What touching fresh memory costs on this machine, and what keeping freed memory saves.

Run from the repository root::

    python bench/fresh_memory.py            # the allocator's defaults, then kept memory

Each mode runs in a fresh interpreter: allocate and fill 256 MiB (``np.ones``), free it, and
again back to back and after pauses of 0.5, 3 and 10 s, in a new thread each time (as a Dask
task runs). ``keep`` first calls :func:`osler.kernels.warm_memory.keep_freed_memory` and
:func:`~osler.kernels.warm_memory.pretouch`. On a VM whose balloon reports freed pages to the
hypervisor the default mode's first touch after a pause costs a host fault per page; ``keep``
reuses pages the process still holds. Seconds per touch are printed; results in bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys, threading, time
import numpy as np
from osler.kernels.warm_memory import keep_freed_memory, pretouch
if sys.argv[1] == "keep":
    keep_freed_memory(); pretouch()
def touch(out):
    start = time.perf_counter(); block = np.ones(256 << 17); out.append(time.perf_counter() - start)
    del block
for label, pause in [("first", 0), ("back to back", 0), ("after 0.5 s", 0.5), ("after 3 s", 3),
                     ("after 10 s", 10), ("back to back", 0)]:
    time.sleep(pause)
    out = []
    worker = threading.Thread(target=touch, args=(out,))
    worker.start(); worker.join()
    print(f"{sys.argv[1]:8s} {label:13s} 256 MiB filled in {out[0]:.3f} s", flush=True)
"""


def main() -> None:
    for mode in ("default", "keep"):
        subprocess.run([sys.executable, "-c", PROBE, mode], check=True)


if __name__ == "__main__":
    main()
