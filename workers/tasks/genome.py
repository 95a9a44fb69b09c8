"""Genome-distance task: thin glue between the job record and ``osler.kernels.genome.distance``."""

from __future__ import annotations

from typing import Any

from osler.workers.kinds.genome import GENOME_DISTANCE
from osler.workers.runner import JobContext
from osler.workers.tasks.job_task import extended_job, job_task


@job_task(GENOME_DISTANCE)
def genome_distance(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.genome.distance import run_genome_distance

    params = ctx.params
    dataset = ctx.input_dataset("dataset")
    return run_genome_distance(
        ctx.dataset_path(dataset),
        ctx.out_dir,
        work_dir=ctx.work_dir,
        metric=params["metric"],
        block_size=params.get("block_size"),
        maf=params.get("maf"),
        geno=params.get("geno"),
        plots=params["plots"],
        extends=extended_job(ctx),
        dataset_sha256=dataset.sha256,
        cache_dir=ctx.dataset_cache_dir(dataset, "genome"),
        client=ctx.dask_client(),
        progress=ctx.progress,
        exchange=ctx.exchange,
    )
