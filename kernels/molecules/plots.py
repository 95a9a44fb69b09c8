"""Pictures for drug-similarity results: a grid of queries with their top hits, a score histogram.

Both use object-oriented APIs (RDKit's Cairo drawer, matplotlib's ``Figure`` with the Agg canvas),
so no global plotting state is touched in a worker process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAX_QUERIES_DRAWN = 12
"""Queries drawn in ``hits.png`` (the first ones in file order that have hits)."""

HITS_DRAWN = 4
"""Hits drawn beside each query."""


def draw_hits(
    path: Path,
    queries: Sequence[tuple[str, str]],
    hits: Sequence[Sequence[tuple[str, str, float]]],
    *,
    cell: int = 220,
) -> bool:
    """Draw each query followed by its best hits, one row per query.

    Parameters
    ----------
    path : Path
        PNG file to write.
    queries : sequence of (id, smiles)
        At most :data:`MAX_QUERIES_DRAWN` are drawn.
    hits : sequence of sequences of (id, smiles, score)
        Best first, per query; at most :data:`HITS_DRAWN` each are drawn.
    cell : int
        Pixel size of one molecule.

    Returns
    -------
    bool
        False when nothing could be drawn (no SMILES, e.g. precomputed fingerprints).
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem.Draw import rdMolDraw2D

    blocker = rdBase.BlockLogs()
    try:
        rows = []
        for (qid, qsmi), qhits in zip(queries, hits, strict=True):
            qmol = Chem.MolFromSmiles(qsmi) if qsmi else None
            if qmol is None or not qhits:
                continue
            row = [(qmol, f"query {qid}"[:40])]
            for hid, hsmi, score in qhits[:HITS_DRAWN]:
                hmol = Chem.MolFromSmiles(hsmi) if hsmi else None
                row.append((hmol if hmol is not None else Chem.Mol(), f"{hid} {score:.3f}"[:40]))
            rows.append(row)
            if len(rows) == MAX_QUERIES_DRAWN:
                break
        if not rows:
            return False
        per_row = 1 + HITS_DRAWN
        mols, legends = [], []
        for row in rows:
            row = row + [(Chem.Mol(), "")] * (per_row - len(row))
            mols += [m for m, _ in row]
            legends += [text for _, text in row]
        drawer = rdMolDraw2D.MolDraw2DCairo(per_row * cell, len(rows) * cell, cell, cell)
        drawer.drawOptions().legendFontSize = 14
        drawer.DrawMolecules(mols, legends=legends)
        drawer.FinishDrawing()
        Path(path).write_bytes(drawer.GetDrawingText())
        return True
    finally:
        del blocker


def plot_histogram(
    path: Path,
    counts: np.ndarray,
    *,
    metric: str,
    best: np.ndarray | None = None,
    title: str = "",
) -> None:
    """Histogram of every score computed (log counts), with best-hit scores when given.

    Parameters
    ----------
    path : Path
        PNG file to write.
    counts : ndarray of int64
        Counts in equal bins over [0, 1].
    metric : str
        Axis label.
    best : ndarray of float, optional
        Each query's best score, drawn as a second panel.
    title : str
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    edges = np.linspace(0.0, 1.0, len(counts) + 1)
    panels = 2 if best is not None and best.size else 1
    fig = Figure(figsize=(6 * panels, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, panels, 1)
    ax.stairs(counts, edges, fill=True, alpha=0.8)
    if counts.sum() > 0:
        ax.set_yscale("log")
    ax.set_xlabel(f"{metric} similarity")
    ax.set_ylabel("pairs")
    ax.set_title(f"all scores ({int(counts.sum()):,} pairs)")
    if panels == 2:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.hist(best, bins=edges, alpha=0.8, color="tab:orange")
        ax2.set_xlabel(f"best {metric} similarity per query")
        ax2.set_ylabel("queries")
        ax2.set_title(f"best hit ({best.size:,} queries)")
    if title:
        fig.suptitle(title)
    # Fixed margins: tight_layout costs about a second per figure here.
    fig.subplots_adjust(left=0.1 / panels, right=1 - 0.03 / panels, bottom=0.13, top=0.85,
                        wspace=0.3)
    fig.savefig(path)
