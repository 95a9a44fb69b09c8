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
    return run_genome_distance(
        ctx.input_path("dataset"),
        ctx.out_dir,
        work_dir=ctx.work_dir,
        metric=params["metric"],
        block_size=params.get("block_size"),
        maf=params.get("maf"),
        geno=params.get("geno"),
        plots=params["plots"],
        extends=extended_job(ctx),
        client=ctx.dask_client(),
        progress=ctx.progress,
        exchange=ctx.exchange,
    )
