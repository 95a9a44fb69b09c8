"""One bounded way to run many small tasks on Dask: a window of futures in flight.

Genome tiles and molecule blocks both go through :func:`run_windowed`: it submits the first
``window`` calls, then one more each time one finishes, so the scheduler never holds the whole
job (a cancelled job leaves little to drop) and the next task goes to whichever worker frees
first. Earlier calls get higher priority, so callers put the biggest work first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def run_windowed(
    client: Any,
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    window: int,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(*calls[index]))`` in completion order, at most ``window`` in flight.

    Parameters
    ----------
    client : distributed.Client
        Where the calls run.
    fn : callable
        A module-level function the workers can import.
    calls : sequence of tuples
        Positional arguments of each call (small and picklable: paths, row ranges, scalars).
    window : int
        Most futures in flight at once (at least 1).

    Notes
    -----
    Closing the generator early (the consumer raised, e.g. a cancelled job's progress callback)
    cancels every outstanding future; use it inside ``contextlib.closing`` or exhaust it.
    """
    from distributed import as_completed

    token = uuid.uuid4().hex[:12]
    name = getattr(fn, "__name__", "task")
    pending = list(enumerate(calls))[::-1]  # pop() takes the first call first
    in_flight: dict[Any, int] = {}

    def submit_next() -> Any:
        index, args = pending.pop()
        future = client.submit(fn, *args, key=f"{name}-{token}-{index}", pure=False,
                               priority=len(calls) - index)
        in_flight[future] = index
        return future

    try:
        for _ in range(min(max(1, window), len(pending))):
            submit_next()
        queue = as_completed(list(in_flight))
        for future in queue:
            result = future.result()
            index = in_flight.pop(future)
            future.release()
            if pending:
                queue.add(submit_next())
            yield index, result
    finally:
        if in_flight:
            client.cancel(list(in_flight), force=True)
