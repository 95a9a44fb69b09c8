"""``scores.warm_up()`` (the Dask worker preload's call) compiles every kernel signature a
drug-similarity job uses, so no job pays numba's compile or cache load."""

from __future__ import annotations

import pytest

from tests.kernels.signature_probe import check_warm_up

PROBE = """
import sys, tempfile
from pathlib import Path
from osler.kernels.molecules import primitives, pruned, scores
from tests.kernels.signature_probe import print_changed, signature_counts

KERNELS = (scores, pruned, primitives)
if sys.argv[1] == "warm":
    scores.warm_up()
before = signature_counts(KERNELS)
from osler.kernels.molecules.similarity_job import run_drug_similarity
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    lib = tmp / "lib.smi"
    lib.write_text("CCO a\\nCCN b\\nc1ccccc1 c\\nCC(=O)O d\\nCCCC e\\n")
    queries = tmp / "q.smi"
    queries.write_text("CCO x\\nCCCN y\\n")
    runs = [("top-k", {}), ("top-k", {"queries_path": queries, "threshold": 0.2}),
            ("threshold", {"threshold": 0.2}),
            ("threshold", {"threshold": 0.2, "queries_path": queries}),
            ("all-pairs", {}), ("all-pairs", {"queries_path": queries})]
    for i, (mode, kw) in enumerate(runs):
        out = tmp / f"out{i}"
        out.mkdir()
        run_drug_similarity(lib, out, library_sha256="lib", cache_dir=tmp / "cache", mode=mode,
                            plots=False, **kw)
print_changed(before, KERNELS)
"""


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_warm_up_compiles_every_signature_a_job_uses(mode):
    # the cold probe sees what a job compiles when nothing warmed it up
    check_warm_up(PROBE, mode, ("osler.kernels.molecules.pruned._pruned_top_k",
                                "osler.kernels.molecules.pruned._threshold_chunk"))
