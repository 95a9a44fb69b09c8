"""Test-split metrics (scikit-learn) and the training-curve and confusion-matrix figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray,
                           class_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and one-vs-rest ROC AUC.

    Parameters
    ----------
    y_true : numpy.ndarray
        ``N`` integer labels.
    probabilities : numpy.ndarray
        ``N x K`` predicted class probabilities; the prediction is the arg-max.
    class_names : sequence of str
        ``K`` names, in label order.

    Returns
    -------
    dict
        JSON-serialisable. ``roc_auc_ovr`` is the unweighted mean of the per-class one-vs-rest AUCs
        (scikit-learn's ``roc_auc_score(..., multi_class="ovr", average="macro")`` when every class
        occurs in ``y_true``); a class absent from ``y_true`` has AUC None and is left out of the
        mean. Per-class precision of a class never predicted is 0 (scikit-learn's
        ``zero_division=0``).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    labels = list(range(len(class_names)))
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.argmax(probabilities, axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    aucs: list[float | None] = []
    for k in labels:
        positives = y_true == k
        if positives.all() or not positives.any():
            aucs.append(None)  # AUC is undefined without both positives and negatives
        else:
            aucs.append(float(roc_auc_score(positives, probabilities[:, k])))
    defined = [a for a in aucs if a is not None]
    return {
        "n_test": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
        "roc_auc_ovr": float(np.mean(defined)) if defined else None,
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
                "roc_auc_ovr": aucs[k],
            }
            for k, name in enumerate(class_names)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def plot_training_curves(history: dict[str, list[float]], path: Path) -> None:
    """Write loss and accuracy per epoch (train and validation) as a PNG."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 3.5), dpi=100)
    for ax, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            if key in history:
                epochs = range(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str],
                          path: Path) -> None:
    """Write the confusion matrix (rows true, columns predicted) as an annotated PNG."""
    from matplotlib.figure import Figure

    counts = np.asarray(matrix)
    k = len(class_names)
    side = min(3 + 0.6 * k, 16)
    figure = Figure(figsize=(side, side), dpi=100)
    ax = figure.subplots()
    image = ax.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        threshold = counts.max() / 2 if counts.size else 0
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center",
                        color="white" if counts[i, j] > threshold else "black")
    ax.set_title("confusion matrix (test split)")
    figure.tight_layout()
    figure.savefig(path, format="png")


def json_safe(value):
    """Replace NaN/inf floats by None, recursively, so ``json.dumps`` writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
