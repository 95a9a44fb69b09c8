"""The kernel-compilation lock: while one process holds it, another waits for it."""

import subprocess
import sys
import time

import pytest

from osler.kernels.compile_once import compiling_alone, lock_path

pytestmark = pytest.mark.kernel

WAITER = """
import time
from osler.kernels.compile_once import compiling_alone
started = time.monotonic()
with compiling_alone():
    print(time.monotonic() - started)
"""


def test_a_second_process_waits_until_the_holder_releases():
    # Given the lock held here, when another process asks for it,
    # then it gets it only after this process lets go.
    with compiling_alone():
        waiter = subprocess.Popen([sys.executable, "-c", WAITER], stdout=subprocess.PIPE,
                                  text=True)
        time.sleep(1.5)
        assert waiter.poll() is None  # still waiting
    out, _ = waiter.communicate(timeout=30)
    assert waiter.returncode == 0
    assert float(out) >= 1.0


def test_a_killed_holder_releases_the_lock():
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom osler.kernels.compile_once import "
         "compiling_alone\nwith compiling_alone():\n    print('held', flush=True)\n"
         "    time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with compiling_alone():
        assert time.monotonic() - started < 5


def test_the_lock_file_is_named_after_the_install():
    assert lock_path().name.startswith("osler-kernels-")
    assert lock_path() == lock_path()
