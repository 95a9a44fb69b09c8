"""Reference baselines for the text classifier, on exactly the classifier's split and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from osler.kernels.text import datasets
from osler.kernels.text.evaluation import classification_metrics
from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig


def tfidf_logistic_baseline(dataset_path: Path, *, text_column: str = "text",
                            label_column: str = "label", split_column: str | None = "split",
                            val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 0,
                            lowercase: bool = True,
                            punctuation: Literal["drop", "split"] = "drop",
                            numbers: Literal["keep", "mask"] = "keep", ngram_max: int = 2,
                            c: float = 10.0) -> dict:
    """TF-IDF (word 1..``ngram_max``-grams) + logistic regression, and the majority class.

    Uses the same reader, split (``split_column`` or the same seeded random split) and
    tokenisation as :func:`osler.kernels.text.sequence_classifier.train_sequence_classifier`, so its
    metrics sit beside the LSTM's. Evaluated on the test split (val when test is empty).

    Returns
    -------
    dict
        ``{"split", "tfidf_logistic": metrics, "majority": {"label", "accuracy", "macro_f1"},
        "seconds"}``
        with metrics as in :func:`osler.kernels.text.evaluation.classification_metrics`.
    """
    import time

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    data = datasets.read_labelled_texts(Path(dataset_path), text_column=text_column,
                                        label_column=label_column, split_column=split_column)
    splits = datasets.assign_splits(len(data.texts), data.splits, val_fraction=val_fraction,
                                    test_fraction=test_fraction, seed=seed)
    rows = splits["test"] if len(splits["test"]) else splits["val"]
    classes = datasets.sorted_labels(data.labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in data.labels])
    tokenizer = Tokenizer(TokenizerConfig(lowercase=lowercase, punctuation=punctuation,
                                          numbers=numbers))
    vectorizer = TfidfVectorizer(tokenizer=tokenizer.tokenize, lowercase=False,
                                 token_pattern=None, ngram_range=(1, ngram_max),
                                 sublinear_tf=True)
    x_train = vectorizer.fit_transform([data.texts[i] for i in splits["train"]])
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(x_train, y[splits["train"]])
    proba_present = model.predict_proba(vectorizer.transform([data.texts[i] for i in rows]))
    proba = np.zeros((len(rows), len(classes)))
    proba[:, model.classes_] = proba_present  # classes absent from training get probability 0
    majority = int(np.bincount(y[splits["train"]], minlength=len(classes)).argmax())
    metrics = classification_metrics(y[rows], proba, classes, majority_class=majority)
    return {
        "split": "test" if len(splits["test"]) else "val",
        "tfidf_logistic": metrics,
        "majority": {"label": classes[majority],
                     "accuracy": metrics["majority_baseline_accuracy"],
                     "macro_f1": metrics["majority_baseline_macro_f1"]},
        "seconds": round(time.perf_counter() - started, 3),
    }
