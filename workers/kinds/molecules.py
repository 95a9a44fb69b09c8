"""The drug-similarity kind: fingerprint similarity between molecules, all-pairs or top-k."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from osler.kernels.file_memo import remembered
from osler.kernels.molecules.options import (
    DEFAULT_MAX_HITS,
    EXTENDS_SAME,
    FINGERPRINTS,
    MAX_HITS,
    MAX_K,
    METRICS,
    MODES,
    SCORE_BYTES,
)
from osler.workers.errors import InvalidParams
from osler.workers.kinds import COMPUTE, JobKind, register
from osler.workers.settings import Settings


@remembered
def _record_count(path: Path, **options: Any) -> int:
    from osler.kernels.molecules.readers import count_records

    return count_records(path, **options)


def _check_molecules(params: dict[str, Any], inputs: dict[str, Path], settings: Settings) -> None:
    """Count records cheaply (once per stored file: :mod:`~osler.kernels.file_memo`);
    refuse an all-pairs matrix larger than the configured limit."""
    from osler.kernels.errors import InputError

    columns = {"smiles_column": params["smiles_column"], "id_column": params["id_column"],
               "max_bytes": settings.max_inspect_bytes}
    n_library = _record_count(inputs["library"], **columns)
    n_queries = _record_count(inputs["queries"], **columns) if "queries" in inputs else n_library
    if params["mode"] == "all-pairs":
        size = n_queries * n_library * SCORE_BYTES
        if size > settings.max_all_pairs_bytes:
            raise InputError(
                f"an all-pairs matrix of {n_queries} x {n_library} float32 is {size} bytes, over "
                f"the {settings.max_all_pairs_bytes}-byte limit; use mode=top-k"
            )


def _check_extends(params: dict[str, Any], earlier: dict[str, Any]) -> None:
    """``extends``: two all-pairs jobs, the same metric and fingerprints, searched alike."""
    if params["mode"] != "all-pairs":
        raise InvalidParams("params.mode: extends needs mode all-pairs (only an all-pairs "
                            "matrix is extended)")
    if earlier.get("mode") != "all-pairs":
        raise InvalidParams(f"params.extends: the job it names ran mode {earlier.get('mode')}; "
                            "only an all-pairs job can be extended")
    for name in EXTENDS_SAME:
        if params.get(name) != earlier.get(name):
            raise InvalidParams(f"params.{name}: {params.get(name)!r} here but "
                                f"{earlier.get(name)!r} in the job named by extends; an "
                                f"extension keeps its {name}")
    if ("queries" in params) != ("queries" in earlier):
        raise InvalidParams("params.queries: given in only one of this job and the job named "
                            "by extends; both compare queries with the library, or both the "
                            "library with itself")


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
                "extends": {
                    "type": "string",
                    "description": "mode all-pairs: id of a succeeded all-pairs job whose "
                    "library is the first molecules of this one (same fingerprints and ids; "
                    "queries, if any, likewise), with the same metric and fingerprint params: "
                    "its scores are copied and only the new ones computed, equal to a full "
                    "computation",
                },
            },
            "if": {"properties": {"mode": {"const": "threshold"}}, "required": ["mode"]},
            "then": {"required": ["threshold"]},
        },
        time_limit=6 * 3600,
        check_inputs=_check_molecules,
        check_extends=_check_extends,
    )
)
