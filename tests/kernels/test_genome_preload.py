"""A Dask worker started with ``--preload osler.kernels.preload`` has the genome kernels loaded
before it runs any task (no cold first job)."""

from __future__ import annotations

from tests.kernels.dask_cli import dask_cli_client


def loaded_kernels() -> dict[str, int]:
    """Runs in the worker: how many compiled signatures each genome kernel holds."""
    from osler.kernels import blocked
    from osler.kernels.genome import bed, gram, metrics, sparse_missing

    kernels = {"and_popcount_gram": gram.and_popcount_gram,
               "opposite_popcount_gram": gram.opposite_popcount_gram,
               "missing_counts_kernel": sparse_missing.missing_counts_kernel,
               "correct_distance": metrics._correct_distance,
               "pack_rows": metrics.pack_rows, "pack_bed_samples": bed.pack_bed_samples,
               "count_rows": metrics.count_rows, "count_bed_rows": bed.count_bed_rows,
               "finish_distance": metrics._finish_distance, "finish_king": metrics._finish_king,
               "standardise_planes": metrics._standardise_planes,
               "mirror_upper": blocked.mirror_upper}
    return {name: len(fn.signatures) for name, fn in kernels.items()}


def test_preloaded_worker_has_every_kernel_loaded() -> None:
    # Given a scheduler and a worker started as the embedded stack and the compose file start
    # them (the dask CLI with the preload), when the worker has joined and run no task yet,
    with dask_cli_client(worker_preload="osler.kernels.preload") as client:
        counts = next(iter(client.run(loaded_kernels).values()))
    # then every kernel a genome-distance tile calls is already compiled or loaded there
    assert counts and all(n >= 1 for n in counts.values()), counts
