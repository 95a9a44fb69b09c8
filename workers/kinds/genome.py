"""The genome-distance kind: distance / relationship matrices between samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osler.kernels.genome.options import METRICS
from osler.kernels.limits import MAX_BLOCK_ROWS
from osler.workers.kinds import COMPUTE, JobKind, register
from osler.workers.settings import Settings


def _check_genotypes(params: dict[str, Any], inputs: dict[str, Path], settings: Settings) -> None:
    from osler.kernels.genome.genotypes import inspect_genotypes

    inspect_genotypes(inputs["dataset"], settings.max_inspect_bytes)


GENOME_DISTANCE = register(
    JobKind(
        name="genome-distance",
        summary="Distance or relationship matrix between samples of a genotype matrix "
        "(PLINK --distance / --make-rel / --make-king definitions).",
        queue=COMPUTE,
        task_name="osler.genome_distance",
        params_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["dataset"],
            "properties": {
                "dataset": {
                    "type": "string",
                    "description": "id of a genotype dataset: .npy (samples x variants, "
                    "0/1/2, -1 missing), a zipped Zarr array (.zarr.zip), PLINK "
                    ".bed/.bim/.fam in a .zip or .tar.gz, or VCF",
                },
                "metric": {"enum": list(METRICS), "default": "dot"},
                "block_size": {
                    "type": "integer",
                    "minimum": 8,
                    "maximum": MAX_BLOCK_ROWS,
                    "description": "samples per square tile; a tile's memory grows with its "
                    "square, hence the cap (default: one band per Dask worker up to 4,096 "
                    "samples, square tiles of at most 4,096 above)",
                },
                "maf": {"type": "number", "minimum": 0, "maximum": 0.5},
                "geno": {"type": "number", "minimum": 0, "maximum": 1},
                "plots": {"type": "boolean", "default": True},
            },
        },
        time_limit=6 * 3600,
        check_inputs=_check_genotypes,
    )
)
