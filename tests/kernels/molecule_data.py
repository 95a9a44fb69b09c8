"""Real molecules and helpers for the drug-similarity tests.

Molecules come from files shipped inside the RDKit wheel: the first 5,000 NCI compounds (8 of
them fail RDKit's valence checks: real invalid records) and a ChEMBL series from Contrib.
References are RDKit's own fingerprints and Bulk*Similarity functions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

rdkit = pytest.importorskip("rdkit")
from rdkit import Chem, DataStructs, RDConfig  # noqa: E402

NCI_SMI = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
NCI_SDF = Path(RDConfig.RDDataDir) / "NCI" / "first_200.props.sdf"
CHEMBL_SMI = Path(RDConfig.RDContribDir) / "FreeWilson" / "data" / "CHEMBL2321810.smi"

NCI_INVALID_LINE = 2098
"""A line of ``first_5K.smi`` whose SMILES RDKit rejects (pentavalent nitrogen)."""


def nci_lines(n: int, start: int = 0) -> list[str]:
    """Raw lines ``start .. start + n`` of the NCI file (``SMILES<TAB>id``)."""
    return NCI_SMI.read_text().splitlines()[start:start + n]


def write_smi(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def rdkit_fps(smiles: list[str], kind: str = "morgan", radius: int = 2, fp_size: int = 2048):
    """RDKit ExplicitBitVects of the parseable SMILES (None for the others)."""
    from osler.kernels.molecules.fingerprints import FingerprintSpec, rdkit_fingerprint

    spec = FingerprintSpec(kind, radius, fp_size)
    out = []
    for smi in smiles:
        mol = Chem.MolFromSmiles(smi)
        out.append(None if mol is None else rdkit_fingerprint(mol, spec))
    return out


def bulk(metric: str, query, library: list) -> np.ndarray:
    """RDKit's Bulk<metric>Similarity as float64."""
    fn = {"tanimoto": DataStructs.BulkTanimotoSimilarity, "dice": DataStructs.BulkDiceSimilarity,
          "cosine": DataStructs.BulkCosineSimilarity}[metric]
    return np.asarray(fn(query, library), dtype=np.float64)


def brute_top_k(scores: np.ndarray, k: int, threshold: float | None = None,
                exclude_diagonal: bool = False) -> list[list[tuple[float, int]]]:
    """Per row the k best (score, column), best first, ties by the lower column (plain Python)."""
    out = []
    for i, row in enumerate(scores):
        cands = [(float(s), j) for j, s in enumerate(row)
                 if not (exclude_diagonal and i == j) and (threshold is None or s >= threshold)]
        cands.sort(key=lambda c: (-c[0], c[1]))
        out.append(cands[:k])
    return out
