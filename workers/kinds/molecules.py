"""The drug-similarity kind: fingerprint similarity between molecules, all-pairs or top-k."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osler.kernels.molecules.options import (
    DEFAULT_MAX_HITS,
    FINGERPRINTS,
    MAX_HITS,
    MAX_K,
    METRICS,
    MODES,
    SCORE_BYTES,
)
from osler.workers.kinds import COMPUTE, JobKind, register
from osler.workers.settings import Settings


def _check_molecules(params: dict[str, Any], inputs: dict[str, Path], settings: Settings) -> None:
    """Count records cheaply; refuse an all-pairs matrix larger than the configured limit."""
    from osler.kernels.errors import InputError
    from osler.kernels.molecules.readers import count_records

    columns = {"smiles_column": params["smiles_column"], "id_column": params["id_column"],
               "max_bytes": settings.max_inspect_bytes}
    n_library = count_records(inputs["library"], **columns)
    n_queries = count_records(inputs["queries"], **columns) if "queries" in inputs else n_library
    if params["mode"] == "all-pairs":
        size = n_queries * n_library * SCORE_BYTES
        if size > settings.max_all_pairs_bytes:
            raise InputError(
                f"an all-pairs matrix of {n_queries} x {n_library} float32 is {size} bytes, over "
                f"the {settings.max_all_pairs_bytes}-byte limit; use mode=top-k"
            )


DRUG_SIMILARITY = register(
    JobKind(
        name="drug-similarity",
        summary="Fingerprint similarity (Tanimoto, Dice, cosine) between molecules: the top-k "
        "library hits of each query, every pair above a threshold (sparse), or the all-pairs "
        "matrix.",
        queue=COMPUTE,
        task_name="osler.drug_similarity",
        dataset_params=("library", "queries"),
        params_schema={
            "type": "object",
            "additionalProperties": False,
            "required": ["library"],
            "properties": {
                "library": {
                    "type": "string",
                    "description": "dataset id: .smi, CSV/TSV, SDF, or fingerprints .npy",
                },
                "queries": {
                    "type": "string",
                    "description": "dataset id of the queries (omitted: library against itself)",
                },
                "mode": {"enum": list(MODES), "default": "top-k"},
                "metric": {"enum": list(METRICS), "default": "tanimoto"},
                "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10},
                "threshold": {
                    "type": "number", "minimum": 0, "maximum": 1,
                    "description": "minimum similarity of a hit; required with mode threshold",
                },
                "max_hits": {
                    "type": "integer", "minimum": 1, "maximum": MAX_HITS,
                    "default": DEFAULT_MAX_HITS,
                    "description": "mode threshold: the job fails rather than return more pairs",
                },
                "fingerprint": {"enum": list(FINGERPRINTS), "default": "morgan"},
                "radius": {"type": "integer", "minimum": 1, "maximum": 6, "default": 2},
                "fp_size": {"type": "integer", "minimum": 64, "maximum": 16384, "default": 2048},
                "smiles_column": {"type": "string", "minLength": 1, "default": "smiles"},
                "id_column": {"type": "string", "minLength": 1, "default": "id"},
                "block_size": {"type": "integer", "minimum": 64, "maximum": 1000000},
                "plots": {"type": "boolean", "default": True},
            },
            "if": {"properties": {"mode": {"const": "threshold"}}, "required": ["mode"]},
            "then": {"required": ["threshold"]},
        },
        time_limit=6 * 3600,
        check_inputs=_check_molecules,
    )
)
