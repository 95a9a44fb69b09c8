"""Genome-distance task: thin glue between the job record and ``kernels.genome_distance``."""

from __future__ import annotations

from typing import Any

from ..kinds.genome import GENOME_DISTANCE
from ..runner import JobContext
from .job_task import job_task


@job_task(GENOME_DISTANCE)
def genome_distance(ctx: JobContext) -> dict[str, Any]:
    from kernels.genome_distance import run_genome_distance

    params = ctx.params
    return run_genome_distance(
        ctx.input_path("dataset"),
        ctx.out_dir,
        work_dir=ctx.work_dir,
        metric=params.get("metric", "dot"),
        block_size=params.get("block_size"),
        maf=params.get("maf"),
        geno=params.get("geno"),
        plots=params.get("plots", True),
        client=ctx.dask_client(),
        progress=ctx.progress,
    )
