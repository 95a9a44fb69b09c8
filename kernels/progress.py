"""The progress callback protocol shared by every kernel."""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    """Called by kernels as work advances.

    Parameters
    ----------
    fraction : float
        Share of the work done, in [0, 1].
    message : str
        A short human-readable status ("block 3/10", "epoch 2/5 loss=0.41").

    The callback may raise (for example when the job was cancelled); kernels let it propagate.
    """

    def __call__(self, fraction: float, message: str) -> None: ...


def report(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    """Call ``progress`` if there is one, clamping ``fraction`` into [0, 1]."""
    if progress is not None:
        progress(min(1.0, max(0.0, float(fraction))), message)
