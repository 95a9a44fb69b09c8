"""LSTM sequence classifier over token sequences (CSV/TSV text) or numeric signals (``.npz``).

Text model: ``Embedding(mask_zero=True)`` → ``LSTM`` (optionally ``Bidirectional``) → dropout →
softmax. Padding id 0 is masked, so padded positions never reach the LSTM state. The embedding can
start from a trained word2vec model (``vectors.bin``); words it lacks start random.

Signal model: per-feature ``Normalization`` (adapted on the training split and saved inside the
model) → ``LSTM`` → dropout → softmax.

Artifacts: ``model.keras``, ``classifier.json`` (input kind, classes, lengths), ``tokenizer.json``
(text), ``history.json``, ``curves.png``, ``confusion_matrix.png``, ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.progress import ProgressCallback, report
from osler.kernels.text import datasets
from osler.kernels.text.evaluation import classification_metrics, plot_confusion_matrix, plot_curves
from osler.kernels.text.keras_support import (
    load_keras_model,
    progress_callback,
    read_model_config,
    seed_everything,
    write_history,
)
from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig

MODEL_FILE = "model.keras"
"""The trained Keras model."""
CONFIG_FILE = "classifier.json"
"""Input kind, class names and sequence shape needed at inference."""
TOKENIZER_FILE = "tokenizer.json"
"""Tokenizer with vocabulary (text models only)."""
PREDICTIONS_FILE = "predictions.csv"
"""Output of :func:`batch_predict`."""
PREDICT_BATCH = 256
"""Rows per ``predict_on_batch`` call."""
FORMAT_VERSION = 1
"""Version of ``classifier.json``."""


@dataclass(frozen=True)
class SequenceClassifierBundle:
    """A loaded classifier: the Keras model and what is needed to feed it."""

    model: Any
    classes: list[str]
    input_kind: Literal["text", "signal"]
    tokenizer: Tokenizer | None
    max_length: int | None
    steps: int | None
    features: int | None


@dataclass(frozen=True)
class _Prepared:
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    splits: dict[str, np.ndarray]
    tokenizer: Tokenizer | None
    embedding_init: np.ndarray | None
    embedding_coverage: float | None


def _check_int(name: str, value: int, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}")


def _word2vec_init(path: Path, tokenizer: Tokenizer, seed: int) -> tuple[np.ndarray, float]:
    """Embedding matrix for ``tokenizer``'s vocabulary, rows copied from word2vec where known."""
    from osler.kernels.text.word2vec import load_word2vec

    kv = load_word2vec(path)
    vocab = tokenizer.vocabulary
    assert vocab is not None
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.05, size=(len(vocab), kv.vector_size)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for i, token in enumerate(vocab.tokens[4:], start=4):
        if token in kv.key_to_index:
            matrix[i] = kv[token]
            found += 1
    return matrix, found / max(len(vocab) - 4, 1)


def _prepare_text(path: Path, *, text_column: str, label_column: str, split_column: str | None,
                  max_length: int, vocabulary_size: int, min_count: int,
                  tokenizer_config: TokenizerConfig, word2vec_path: Path | None,
                  val_fraction: float, test_fraction: float, seed: int) -> _Prepared:
    data = datasets.read_labelled_texts(path, text_column=text_column, label_column=label_column,
                                        split_column=split_column)
    splits = datasets.assign_splits(len(data.texts), data.splits, val_fraction=val_fraction,
                                    test_fraction=test_fraction, seed=seed)
    if word2vec_path is not None:
        from osler.kernels.text.word2vec import load_word2vec_tokenizer

        w2v = Path(word2vec_path)
        saved = load_word2vec_tokenizer(w2v if w2v.is_dir() else w2v.parent)
        if saved is not None:
            # The embedding rows only mean something if words are split as word2vec saw them.
            tokenizer_config = saved.config
    tokenizer = Tokenizer(tokenizer_config).with_vocabulary(
        (data.texts[i] for i in splits["train"]), min_count=min_count, max_size=vocabulary_size)
    classes = datasets.sorted_labels(data.labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in data.labels], dtype=np.int64)
    x = tokenizer.encode_batch(data.texts, max_length)
    init, coverage = (None, None)
    if word2vec_path is not None:
        init, coverage = _word2vec_init(Path(word2vec_path), tokenizer, seed)
    return _Prepared(x, y, classes, splits, tokenizer, init, coverage)


def _prepare_signals(path: Path, *, val_fraction: float, test_fraction: float,
                     seed: int) -> _Prepared:
    data = datasets.read_signals(path)
    classes = datasets.sorted_labels(data.labels)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in data.labels], dtype=np.int64)
    splits = datasets.assign_splits(len(y), None, val_fraction=val_fraction,
                                    test_fraction=test_fraction, seed=seed)
    return _Prepared(data.x, y, classes, splits, None, None, None)


def build_model(*, input_kind: str, n_classes: int, max_length: int | None = None,
                vocabulary_size: int | None = None, embedding_dim: int = 64,
                steps: int | None = None, features: int | None = None, units: int = 64,
                bidirectional: bool = False, dropout: float = 0.2,
                normalization_data: np.ndarray | None = None):
    """The uncompiled Keras model for text ids or numeric signals."""
    import keras
    from keras import layers

    if input_kind == "text":
        inputs = keras.Input(shape=(max_length,), dtype="int32", name="token_ids")
        hidden = layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                  name="embedding")(inputs)
    else:
        inputs = keras.Input(shape=(steps, features), dtype="float32", name="signal")
        norm = layers.Normalization(axis=-1, name="normalization")
        if normalization_data is not None:
            norm.adapt(normalization_data)
        hidden = norm(inputs)
    recurrent = layers.LSTM(units, name="lstm")
    if bidirectional:
        recurrent = layers.Bidirectional(recurrent, name="bidirectional")
    hidden = recurrent(hidden)
    if dropout > 0:
        hidden = layers.Dropout(dropout, name="dropout")(hidden)
    outputs = layers.Dense(n_classes, activation="softmax", name="classes")(hidden)
    return keras.Model(inputs, outputs, name="sequence_classifier")


def _class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = len(y) / (present.sum() * counts[present])
    return {k: float(w) for k, w in enumerate(weights)}


def train_sequence_classifier(
    dataset_path: Path, out_dir: Path, *, text_column: str = "text", label_column: str = "label",
    split_column: str | None = "split", max_length: int = 64, vocabulary_size: int = 20_000,
    min_count: int = 1, embedding_dim: int = 64, units: int = 64, bidirectional: bool = False,
    dropout: float = 0.2, word2vec_path: Path | None = None, freeze_embeddings: bool = False,
    epochs: int = 5, batch_size: int = 64, learning_rate: float = 1e-3,
    class_weight: Literal["none", "balanced"] = "none", val_fraction: float = 0.1,
    test_fraction: float = 0.1, seed: int = 0, lowercase: bool = True,
    punctuation: Literal["drop", "split"] = "drop", numbers: Literal["keep", "mask"] = "keep",
    progress: ProgressCallback | None = None,
) -> dict:
    """Train an LSTM classifier on labelled texts (CSV/TSV) or numeric sequences (``.npz``).

    Parameters
    ----------
    dataset_path : Path
        ``.csv``/``.tsv`` with text and label columns (and optionally a ``split`` column with
        train/val/test), or ``.npz`` with ``x`` (samples × steps × features) and ``y``.
    out_dir : Path
        Existing empty folder for the artifacts listed in the module docstring.
    text_column, label_column, split_column : str
        Column names; ``split_column`` is used when present, else a seeded random split with
        ``val_fraction`` and ``test_fraction``.
    max_length : int
        Tokens per text; longer texts are truncated at the end, shorter ones padded (masked).
    vocabulary_size, min_count : int
        Vocabulary (built on the training split) size cap, reserved tokens included, and the
        minimum count of a kept word.
    embedding_dim, units : int
        Embedding width (replaced by the word2vec vector size when ``word2vec_path`` is given)
        and LSTM units.
    bidirectional : bool
        Wrap the LSTM in ``Bidirectional``.
    dropout : float
        Dropout before the softmax layer.
    word2vec_path : Path, optional
        ``vectors.bin`` or a word2vec model folder; initialises the embedding. Its saved
        tokenizer configuration, when present, replaces ``lowercase``/``punctuation``/``numbers``.
    freeze_embeddings : bool
        Keep the embedding fixed during training.
    epochs, batch_size, learning_rate : training settings (Adam).
    class_weight : {"none", "balanced"}
        ``"balanced"`` weights classes inversely to their training frequency.
    seed : int
        Seed for the split, initialisation and shuffling.
    lowercase, punctuation, numbers
        Tokenisation rules, see :mod:`osler.kernels.text.tokenize`.
    progress : callable, optional
        ``progress(fraction, message)``; exceptions propagate and stop training.

    Returns
    -------
    dict
        ``{"model": {"framework": "keras", "file": "model.keras", ...}, "metrics": {...},
        "samples": {...}, ...}``; metrics are computed on the test split (the validation split
        when the test split is empty).
    """
    import keras

    for name, value in (("max_length", max_length), ("vocabulary_size", vocabulary_size),
                        ("min_count", min_count), ("embedding_dim", embedding_dim),
                        ("units", units), ("epochs", epochs), ("batch_size", batch_size)):
        _check_int(name, value)
    if vocabulary_size < 5:
        raise InputError("vocabulary_size must be at least 5 (4 reserved tokens + 1 word)")
    if not 0 <= dropout < 1:
        raise InputError(f"dropout must be in [0, 1), got {dropout!r}")
    if not learning_rate > 0:
        raise InputError(f"learning_rate must be positive, got {learning_rate!r}")
    if class_weight not in ("none", "balanced"):
        raise InputError(f"class_weight must be 'none' or 'balanced', got {class_weight!r}")
    out_dir = Path(out_dir)
    dataset_path = Path(dataset_path)
    input_kind: Literal["text", "signal"] = (
        "signal" if dataset_path.suffix.lower() == ".npz" else "text")

    report(progress, 0.0, "reading dataset")
    seed_everything(seed)
    if input_kind == "text":
        config = TokenizerConfig(level="word", lowercase=lowercase, punctuation=punctuation,
                                 numbers=numbers)
        prep = _prepare_text(dataset_path, text_column=text_column, label_column=label_column,
                             split_column=split_column, max_length=max_length,
                             vocabulary_size=vocabulary_size, min_count=min_count,
                             tokenizer_config=config, word2vec_path=word2vec_path,
                             val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    else:
        prep = _prepare_signals(dataset_path, val_fraction=val_fraction,
                                test_fraction=test_fraction, seed=seed)
    train, val, test = (prep.splits[s] for s in datasets.SPLITS)
    if len(prep.classes) < 2:
        raise InputError(f"{dataset_path.name}: need at least 2 classes, found "
                         f"{len(prep.classes)}")

    model = build_model(
        input_kind=input_kind, n_classes=len(prep.classes), max_length=max_length,
        vocabulary_size=len(prep.tokenizer.vocabulary) if prep.tokenizer else None,
        embedding_dim=(prep.embedding_init.shape[1] if prep.embedding_init is not None
                       else embedding_dim),
        steps=prep.x.shape[1], features=prep.x.shape[2] if prep.x.ndim == 3 else None,
        units=units, bidirectional=bidirectional, dropout=dropout,
        normalization_data=prep.x[train] if input_kind == "signal" else None)
    if prep.embedding_init is not None:
        embedding = model.get_layer("embedding")
        embedding.set_weights([prep.embedding_init])
        embedding.trainable = not freeze_embeddings
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    steps_per_epoch = -(-len(train) // batch_size)
    report(progress, 0.05, f"training on {len(train)} sequences")
    started = time.perf_counter()
    history = model.fit(
        prep.x[train], prep.y[train], batch_size=batch_size, epochs=epochs, verbose=0,
        validation_data=(prep.x[val], prep.y[val]) if len(val) else None,
        class_weight=(_class_weights(prep.y[train], len(prep.classes))
                      if class_weight == "balanced" else None),
        callbacks=[progress_callback(progress, epochs=epochs, steps_per_epoch=steps_per_epoch)])
    seconds = time.perf_counter() - started

    model.save(out_dir / MODEL_FILE)
    config_json = {
        "format_version": FORMAT_VERSION, "input": input_kind, "classes": prep.classes,
        "max_length": max_length if input_kind == "text" else None,
        "steps": int(prep.x.shape[1]) if input_kind == "signal" else None,
        "features": int(prep.x.shape[2]) if input_kind == "signal" else None,
    }
    (out_dir / CONFIG_FILE).write_text(json.dumps(config_json, indent=1), encoding="utf-8")
    artifacts = [MODEL_FILE, CONFIG_FILE]
    if prep.tokenizer is not None:
        prep.tokenizer.save(out_dir / TOKENIZER_FILE)
        artifacts.append(TOKENIZER_FILE)
    curves = write_history(history.history, out_dir / "history.json")
    plot_curves(curves, out_dir / "curves.png")

    report(progress, 0.9, "evaluating")
    eval_split, eval_rows = ("test", test) if len(test) else ("val", val)
    metrics: dict = {"split": None}
    if len(eval_rows):
        proba = model.predict(prep.x[eval_rows], batch_size=PREDICT_BATCH, verbose=0)
        metrics = {"split": eval_split,
                   **classification_metrics(
                       prep.y[eval_rows], proba, prep.classes,
                       majority_class=int(np.bincount(prep.y[train]).argmax()))}
        plot_confusion_matrix(prep.y[eval_rows], proba.argmax(axis=1), prep.classes,
                              out_dir / "confusion_matrix.png")
        artifacts.append("confusion_matrix.png")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    artifacts += ["history.json", "curves.png", "metrics.json"]
    report(progress, 1.0, "done")
    return {
        "model": {
            "framework": "keras", "file": MODEL_FILE, "config_file": CONFIG_FILE,
            "tokenizer_file": TOKENIZER_FILE if prep.tokenizer else None,
            "tokenizer": prep.tokenizer.to_dict()["config"] if prep.tokenizer else None,
            "input": input_kind, "class_names": prep.classes,
            "vocabulary_size": len(prep.tokenizer.vocabulary) if prep.tokenizer else None,
            "parameters": int(model.count_params()),
        },
        "metrics": {k: metrics.get(k) for k in ("split", "samples", "accuracy", "macro_f1",
                                                "roc_auc_ovr", "majority_baseline_accuracy",
                                                "majority_baseline_macro_f1")},
        "samples": {name: int(len(prep.splits[name])) for name in datasets.SPLITS},
        "word2vec_coverage": prep.embedding_coverage,
        "epochs": epochs,
        "train_seconds": round(seconds, 3),
        "final": {k: v[-1] for k, v in curves.items()},
        "artifacts": artifacts,
    }


# -- inference ------------------------------------------------------------------------------

def load_sequence_classifier(model_dir: Path) -> SequenceClassifierBundle:
    """Load ``model.keras`` (safe mode), ``classifier.json`` and ``tokenizer.json``."""
    model_dir = Path(model_dir)
    config = read_model_config(model_dir, CONFIG_FILE, "classifier", FORMAT_VERSION)
    kind = config["input"]
    tokenizer = Tokenizer.load(model_dir / TOKENIZER_FILE) if kind == "text" else None
    return SequenceClassifierBundle(
        model=load_keras_model(model_dir / MODEL_FILE), classes=list(config["classes"]),
        input_kind=kind, tokenizer=tokenizer, max_length=config.get("max_length"),
        steps=config.get("steps"), features=config.get("features"))


def encode_texts(bundle: SequenceClassifierBundle, texts: Sequence[str]) -> np.ndarray:
    """Token ids exactly as at training time: ``(len(texts), max_length)`` int32."""
    if bundle.input_kind != "text" or bundle.tokenizer is None:
        raise InputError("this model classifies numeric signals, not texts")
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InputError("texts must be a list of strings")
    return bundle.tokenizer.encode_batch(list(texts), bundle.max_length)


def predict_proba(bundle: SequenceClassifierBundle, x: np.ndarray) -> np.ndarray:
    """Class probabilities for encoded inputs, ``predict_on_batch`` in chunks."""
    chunks = [np.asarray(bundle.model.predict_on_batch(x[i:i + PREDICT_BATCH]))
              for i in range(0, len(x), PREDICT_BATCH)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(bundle.classes)), np.float32)


def _as_results(bundle: SequenceClassifierBundle, proba: np.ndarray) -> list[dict]:
    return [{"label": bundle.classes[int(row.argmax())],
             "probabilities": {c: float(p) for c, p in zip(bundle.classes, row, strict=True)}}
            for row in proba]


def predict_texts(bundle: SequenceClassifierBundle, texts: Sequence[str]) -> list[dict]:
    """Classify texts: ``[{"label": str, "probabilities": {class: float}}, ...]`` in input order."""
    return _as_results(bundle, predict_proba(bundle, encode_texts(bundle, texts)))


def check_signals(bundle: SequenceClassifierBundle, x: np.ndarray) -> np.ndarray:
    """Validate a numeric batch against the model's steps × features; returns float32."""
    if bundle.input_kind != "signal":
        raise InputError("this model classifies texts, not numeric signals")
    try:
        x = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError("signals must be numeric arrays") from exc
    if x.ndim != 3 or x.shape[1:] != (bundle.steps, bundle.features):
        raise InputError(f"signals must have shape (n, {bundle.steps}, {bundle.features}), "
                         f"got {x.shape}")
    if not np.isfinite(x).all():
        raise InputError("signals contain non-finite values")
    return x


def predict_signals(bundle: SequenceClassifierBundle, x: np.ndarray) -> list[dict]:
    """Classify numeric sequences ``x`` (n × steps × features), as :func:`predict_texts`."""
    return _as_results(bundle, predict_proba(bundle, check_signals(bundle, x)))


def batch_predict(bundle: SequenceClassifierBundle, input_path: Path, out_dir: Path, *,
                  text_column: str = "text", progress: ProgressCallback | None = None) -> dict:
    """Classify a whole file and write ``predictions.csv``.

    ``input_path`` is a ``.txt`` (one text per line, empty lines skipped), a ``.csv``/``.tsv``
    with ``text_column``, or for signal models an ``.npz`` with ``x``. The CSV has the source
    ``line`` (or ``index`` for ``.npz``), the predicted ``label``, its ``probability`` and one
    ``p_<class>`` column per class.
    """
    input_path = Path(input_path)
    suffix = input_path.suffix.lower()
    report(progress, 0.0, "reading input")
    if bundle.input_kind == "signal":
        if suffix != ".npz":
            raise InputError(f"{input_path.name}: a signal model needs an .npz with 'x'")
        try:
            with np.load(input_path, allow_pickle=False) as data:
                if "x" not in data.files:
                    raise InputError(f"{input_path.name}: missing array 'x'")
                x = check_signals(bundle, data["x"])
        except (OSError, ValueError) as exc:
            raise InputError(f"{input_path.name}: not a readable .npz file ({exc})") from exc
        ids, id_name = list(range(len(x))), "index"
    elif suffix in datasets.DELIMITERS:
        ids, texts = _read_text_column(input_path, text_column)
        x, id_name = encode_texts(bundle, texts), "line"
    else:
        lines = [(n, t) for n, t in datasets._read_lines(input_path) if t.strip()]
        if not lines:
            raise InputError(f"{input_path.name}: the file has only empty lines")
        ids, x, id_name = [n for n, _ in lines], encode_texts(bundle, [t for _, t in lines]), "line"
    proba_parts = []
    for start in range(0, len(x), PREDICT_BATCH):
        batch = x[start:start + PREDICT_BATCH]
        proba_parts.append(np.asarray(bundle.model.predict_on_batch(batch)))
        report(progress, 0.05 + 0.9 * (start + PREDICT_BATCH) / len(x), "predicting")
    proba = np.concatenate(proba_parts)
    with (Path(out_dir) / PREDICTIONS_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([id_name, "label", "probability", *[f"p_{c}" for c in bundle.classes]])
        for row_id, row in zip(ids, proba, strict=True):
            k = int(row.argmax())
            writer.writerow([row_id, bundle.classes[k], f"{row[k]:.6f}",
                             *[f"{p:.6f}" for p in row]])
    report(progress, 1.0, "done")
    counts = np.bincount(proba.argmax(axis=1), minlength=len(bundle.classes))
    return {"predictions": int(len(proba)), "file": PREDICTIONS_FILE,
            "label_counts": {c: int(n) for c, n in zip(bundle.classes, counts, strict=True) if n}}


def _read_text_column(path: Path, column: str) -> tuple[list[int], list[str]]:
    delimiter = datasets.DELIMITERS[path.suffix.lower()]
    ids: list[int] = []
    texts: list[str] = []
    if not path.is_file():
        raise InputError(f"{path.name}: file not found")
    with path.open("r", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip().lstrip("\ufeff") for h in next(reader, [])]
        if column not in header:
            raise InputError(f"{path.name}: missing column {column!r}; the header has "
                             f"{', '.join(map(repr, header))}")
        col = header.index(column)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= col:
                raise InputError(f"{path.name} line {reader.line_num}: too few fields")
            ids.append(reader.line_num)
            texts.append(row[col])
    if not texts:
        raise InputError(f"{path.name}: no data rows")
    return ids, texts
