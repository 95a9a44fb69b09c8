"""The genome-distance kind: distance / relationship matrices between samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osler.kernels.file_memo import remembered
from osler.kernels.genome.options import EXTENDS_SAME, GRM_NOT_EXTENDED, METRICS
from osler.kernels.limits import MAX_BLOCK_ROWS
from osler.workers.errors import InvalidParams
from osler.workers.kinds import COMPUTE, JobKind, register
from osler.workers.settings import Settings


@remembered
def _inspection(path: Path, **options: Any) -> dict[str, Any]:
    from osler.kernels.genome.genotypes import inspect_genotypes

    return inspect_genotypes(path, **options)


def _check_genotypes(params: dict[str, Any], inputs: dict[str, Path], settings: Settings) -> None:
    """The genotypes are readable and consistent (once per stored file:
    :mod:`~osler.kernels.file_memo`)."""
    _inspection(inputs["dataset"], max_bytes=settings.max_inspect_bytes)


def _check_extends(params: dict[str, Any], earlier: dict[str, Any]) -> None:
    """``extends``: not for grm, and the same metric and filters as the job it names."""
    if params["metric"] == "grm":
        raise InvalidParams(f"params.extends: {GRM_NOT_EXTENDED}")
    for name in EXTENDS_SAME:
        if params.get(name) != earlier.get(name):
            raise InvalidParams(f"params.{name}: {params.get(name)!r} here but "
                                f"{earlier.get(name)!r} in the job named by extends; an "
                                f"extension keeps its {name}")


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
                "extends": {
                    "type": "string",
                    "description": "id of a succeeded genome-distance job whose cohort is the "
                    "first samples of this one (same ids and calls, same variants, metric, maf "
                    "and geno): its matrix is copied and only the new samples' rows are "
                    "computed, equal to a full computation; not for grm",
                },
            },
        },
        time_limit=6 * 3600,
        check_inputs=_check_genotypes,
        check_extends=_check_extends,
    )
)
