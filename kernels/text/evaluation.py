"""Evaluation artifacts of the text classifiers: metrics, training curves, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, classes: Sequence[str], *,
                           majority_class: int | None = None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1 and one-vs-rest ROC AUC.

    Parameters
    ----------
    y_true : array of int
        True class indices into ``classes``.
    proba : array, shape (n, len(classes))
        Predicted class probabilities; the prediction is the arg-max.
    classes : sequence of str
        Class names in index order.
    majority_class : int, optional
        The most frequent training class, for the majority baseline; default: the most
        frequent class of ``y_true`` (an optimistic baseline).

    Returns
    -------
    dict
        ``macro_f1`` averages over the classes present in the truth or the predictions (as
        scikit-learn does); ``roc_auc_ovr`` averages the binary AUC of every class that has both
        positive and negative test samples (None when no class does) and ``roc_auc_classes`` says
        how many classes that was. ``majority_baseline_accuracy`` and
        ``majority_baseline_macro_f1`` score always predicting ``majority_class``.
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y_true = np.asarray(y_true, dtype=np.int64)
    proba = np.asarray(proba, dtype=np.float64)
    y_pred = proba.argmax(axis=1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    aucs = []
    for k in labels:
        positives = y_true == k
        if positives.any() and not positives.all():
            aucs.append(roc_auc_score(positives, proba[:, k]))
    if majority_class is None:
        majority_class = int(np.bincount(y_true, minlength=len(classes)).argmax())
    majority = np.full(len(y_true), majority_class)
    return {
        "samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc_ovr": float(np.mean(aucs)) if aucs else None,
        "roc_auc_classes": len(aucs),
        "majority_baseline_accuracy": float(np.mean(y_true == majority_class)),
        "majority_baseline_macro_f1": float(f1_score(y_true, majority, average="macro",
                                                     zero_division=0)),
        "per_class": {
            name: {"precision": float(precision[k]), "recall": float(recall[k]),
                   "f1": float(f1[k]), "support": int(support[k])}
            for k, name in enumerate(classes)
        },
    }


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training and validation, side by side."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    try:
        for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
            for prefix, style in (("", "-o"), ("val_", "--o")):
                values = history.get(prefix + metric)
                if values:
                    ax.plot(range(1, len(values) + 1), values, style, markersize=3,
                            label=(prefix + metric).replace("_", " "))
            ax.set_xlabel("epoch")
            ax.set_title(metric)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def plot_confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str],
                          path: Path) -> np.ndarray:
    """Draw and return the confusion matrix (rows: truth, columns: prediction), counts annotated."""
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=list(range(len(classes))))
    plt = _pyplot()
    size = min(4 + 0.45 * len(classes), 24)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    try:
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046)
        ticks = range(len(classes))
        ax.set_xticks(ticks, [str(c)[:20] for c in classes], rotation=90, fontsize=8)
        ax.set_yticks(ticks, [str(c)[:20] for c in classes], fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if len(classes) <= 40:
            threshold = matrix.max() / 2 if matrix.size else 0
            for i in ticks:
                for j in ticks:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] > threshold else "black")
        ax.set_title("confusion matrix (test split)")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return matrix
