"""Pictures of a genome distance job: a clustered heatmap and a principal-component scatter.

matplotlib runs on the Agg backend (no display). Large cohorts are subsampled for the heatmap so
that clustering and drawing stay O(2000^2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_HEATMAP_SAMPLES = 2000
"""Samples drawn in the heatmap; larger cohorts are subsampled (seeded)."""

SIMILARITY_METRICS = {"dot", "ibs", "grm", "king"}
"""Metrics where larger means closer (converted to a distance for clustering)."""


def heatmap_sample(n: int, max_samples: int = MAX_HEATMAP_SAMPLES, seed: int = 0) -> np.ndarray:
    """Sorted indices of the samples drawn (all of them when n <= max_samples)."""
    if n <= max_samples:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def as_distance(block: np.ndarray, metric: str) -> np.ndarray:
    """A symmetric non-negative dissimilarity for hierarchical clustering."""
    values = np.asarray(block, dtype=np.float64)
    if metric in ("dot", "grm"):
        # Gram matrices: squared Euclidean distance between the samples' feature vectors.
        d = np.diag(values)
        dist = d[:, None] + d[None, :] - 2.0 * values
    elif metric == "ibs":
        dist = 1.0 - values
    elif metric == "king":
        dist = 0.5 - values
    else:
        dist = values.copy()
    finite = np.isfinite(dist)
    fill = np.nanmax(np.where(finite, dist, np.nan)) if finite.any() else 1.0
    dist = np.where(finite, dist, fill)
    dist = np.maximum((dist + dist.T) / 2.0, 0.0)
    np.fill_diagonal(dist, 0.0)
    return dist


def cluster_order(dist: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering of a distance matrix."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    if dist.shape[0] < 3:
        return np.arange(dist.shape[0])
    return leaves_list(linkage(squareform(dist, checks=False), method="average"))


def plot_heatmap(matrix: np.ndarray, metric: str, out_png: Path) -> dict[str, int]:
    """Draw the (subsampled) matrix with samples in clustering order; return what was drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = matrix.shape[0]
    idx = heatmap_sample(n)
    block = np.asarray(matrix[idx][:, idx], dtype=np.float64)
    order = cluster_order(as_distance(block, metric))
    shown = block[np.ix_(order, order)]
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    finite = shown[np.isfinite(shown)]
    vmin, vmax = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    image = ax.imshow(shown, cmap="viridis", interpolation="nearest", vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, label=metric)
    note = f" ({len(idx)} of {n} samples)" if len(idx) < n else ""
    ax.set_title(f"{metric}: samples ordered by average-linkage clustering{note}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return {"heatmap_samples": int(len(idx))}


SMALL_EIGH_N = 300
"""Up to this many samples a dense eigensolver is as fast as Lanczos and simpler."""


def principal_components(matrix: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenvalues (descending) and eigenvectors (n x k) of a symmetric matrix."""
    n = matrix.shape[0]
    k = max(1, min(k, n - 1 if n > 1 else 1))
    if n <= SMALL_EIGH_N:
        from scipy.linalg import eigh

        values, vectors = eigh(np.asarray(matrix, dtype=np.float64),
                               subset_by_index=[n - k, n - 1])
    else:
        from scipy.sparse.linalg import eigsh

        # Lanczos for the top k only, faster than a dense eigh at n = 2000; a fixed start
        # vector keeps the result the same from run to run. A wider Krylov space (ncv) and a
        # 1e-10 tolerance converge in fewer restarts than the defaults.
        values, vectors = eigsh(np.asarray(matrix, dtype=np.float64), k=k, which="LA",
                                v0=np.ones(n), ncv=min(n, max(4 * k, 20)), tol=1e-10)
    order = np.argsort(values)[::-1]
    vectors = vectors[:, order]
    # A deterministic sign: the largest-magnitude loading of each component is positive.
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    return values[order], vectors * np.where(signs == 0, 1.0, signs)


def plot_pcs(pcs: np.ndarray, eigenvalues: np.ndarray, out_png: Path) -> None:
    """Scatter of PC1 against PC2 (PC1 against sample index if there is only one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5), dpi=110)
    y = pcs[:, 1] if pcs.shape[1] > 1 else np.arange(pcs.shape[0])
    ax.scatter(pcs[:, 0], y, s=8, alpha=0.7)
    ax.set_xlabel(f"PC1 (eigenvalue {eigenvalues[0]:.3g})")
    ax.set_ylabel(f"PC2 (eigenvalue {eigenvalues[1]:.3g})" if pcs.shape[1] > 1 else "sample")
    ax.set_title("Principal components of the GRM")
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
