"""Drug-similarity task: thin glue between the job record and the molecules kernels."""

from __future__ import annotations

from typing import Any

from osler.workers.kinds.molecules import DRUG_SIMILARITY
from osler.workers.runner import JobContext
from osler.workers.tasks.job_task import extended_job, job_task


@job_task(DRUG_SIMILARITY)
def drug_similarity(ctx: JobContext) -> dict[str, Any]:
    from osler.kernels.molecules.similarity_job import run_drug_similarity

    params = ctx.params
    library = ctx.input_dataset("library")
    queries = ctx.input_dataset("queries") if "queries" in params else None
    return run_drug_similarity(
        ctx.dataset_path(library),
        ctx.out_dir,
        queries_path=ctx.dataset_path(queries) if queries else None,
        library_sha256=library.sha256,
        queries_sha256=queries.sha256 if queries else None,
        cache_dir=ctx.dataset_cache_dir(library, "fingerprints"),
        mode=params["mode"],
        metric=params["metric"],
        k=params["k"],
        threshold=params.get("threshold"),
        max_hits=params["max_hits"],
        fingerprint=params["fingerprint"],
        radius=params["radius"],
        fp_size=params["fp_size"],
        smiles_column=params["smiles_column"],
        id_column=params["id_column"],
        block_size=params.get("block_size"),
        plots=params["plots"],
        extends=extended_job(ctx),
        client=ctx.dask_client(),
        progress=ctx.progress,
        exchange=ctx.exchange,
    )
