"""Encoder–decoder LSTM (optionally with attention) for source → target text (description → code).

Training uses teacher forcing: the decoder reads ``<s> t1 … tn`` and learns to emit
``t1 … tn </s>``; padded target positions get zero sample weight. Only the training model is saved
(``model.keras``, standard layers only). At load time the encoder and a one-step decoder are
rebuilt from its trained layers (found by name), so decoding needs no Lambda layers or pickles.

Decoding never emits the padding or start ids. Greedy decoding takes the most probable token at
each step; beam search keeps the ``beam_width`` best partial sequences by summed log-probability
(no length normalisation), and with ``beam_width=1`` is exactly greedy.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from osler.kernels.errors import InputError
from osler.kernels.progress import ProgressCallback, report
from osler.kernels.text import datasets
from osler.kernels.text.evaluation import plot_curves
from osler.kernels.text.keras_support import (
    load_keras_model,
    progress_callback,
    read_model_config,
    seed_everything,
    write_history,
)
from osler.kernels.text.tokenize import Tokenizer, TokenizerConfig

MODEL_FILE = "model.keras"
"""The trained teacher-forcing model."""
CONFIG_FILE = "seq2seq.json"
"""Sequence limits and architecture needed to rebuild the decoders."""
SOURCE_TOKENIZER_FILE = "source_tokenizer.json"
"""Tokenizer and vocabulary of the sources."""
TARGET_TOKENIZER_FILE = "target_tokenizer.json"
"""Tokenizer and vocabulary of the targets."""
TEST_PREDICTIONS_FILE = "test_predictions.csv"
"""Decoded test split beside the references."""
DECODE_BATCH = 512
"""Sources decoded together by greedy decoding."""
FORMAT_VERSION = 1
"""Version of ``seq2seq.json``."""
_START_ID, _END_ID = 2, 3
_NEVER_EMITTED = (0, 2)  # padding and start


@dataclass(frozen=True)
class Seq2SeqBundle:
    """A loaded seq2seq model with its inference encoder and one-step decoder."""

    model: Any
    encoder: Any
    step: Any
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    max_source_length: int
    max_target_length: int
    attention: str


def target_tokenizer_config(level: Literal["word", "char"],
                            lowercase: bool | None = None) -> TokenizerConfig:
    """Targets keep punctuation as tokens; characters keep their case unless asked otherwise."""
    if lowercase is None:
        lowercase = level == "word"
    return TokenizerConfig(level=level, lowercase=lowercase, punctuation="split", numbers="keep")


def build_model(*, source_vocabulary: int, target_vocabulary: int, embedding_dim: int = 64,
                units: int = 128, attention: Literal["none", "dot", "additive"] = "none"):
    """The teacher-forcing model: ``[source_ids, target_in_ids] → next-token probabilities``."""
    import keras
    from keras import layers

    source = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target_in = keras.Input(shape=(None,), dtype="int32", name="target_in_ids")
    source_emb = layers.Embedding(source_vocabulary, embedding_dim, mask_zero=True,
                                  name="source_embedding")(source)
    enc_out, h, c = layers.LSTM(units, return_sequences=True, return_state=True,
                                name="encoder_lstm")(source_emb)
    target_emb = layers.Embedding(target_vocabulary, embedding_dim, mask_zero=True,
                                  name="target_embedding")(target_in)
    dec_out, _, _ = layers.LSTM(units, return_sequences=True, return_state=True,
                                name="decoder_lstm")(target_emb, initial_state=[h, c])
    features = dec_out
    if attention != "none":
        attend = (layers.Attention(name="attention") if attention == "dot"
                  else layers.AdditiveAttention(name="attention"))
        context = attend([dec_out, enc_out])
        features = layers.Concatenate(name="attention_concat")([dec_out, context])
        features = layers.Dense(units, activation="tanh", name="attention_projection")(features)
    probs = layers.Dense(target_vocabulary, activation="softmax", name="output")(features)
    return keras.Model([source, target_in], probs, name="seq2seq")


def inference_models(model, attention: str):
    """Rebuild the encoder and the one-step decoder from the trained model's layers.

    Returns
    -------
    encoder : keras.Model
        ``source_ids → [encoder_outputs, h, c]``.
    step : keras.Model
        ``[token (n, 1), h, c, encoder_outputs, source_ids] → [probs (n, 1, V), h, c]``;
        the last two inputs exist only with attention.
    """
    import keras

    units = model.get_layer("encoder_lstm").units
    source = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    enc_out, h, c = model.get_layer("encoder_lstm")(model.get_layer("source_embedding")(source))
    encoder = keras.Model(source, [enc_out, h, c], name="encoder")

    token = keras.Input(shape=(1,), dtype="int32", name="token")
    h_in = keras.Input(shape=(units,), name="h")
    c_in = keras.Input(shape=(units,), name="c")
    inputs = [token, h_in, c_in]
    out, h_out, c_out = model.get_layer("decoder_lstm")(
        model.get_layer("target_embedding")(token), initial_state=[h_in, c_in])
    features = out
    if attention != "none":
        enc_in = keras.Input(shape=(None, units), name="encoder_outputs")
        source_in = keras.Input(shape=(None,), dtype="int32", name="step_source_ids")
        inputs += [enc_in, source_in]
        source_mask = keras.ops.not_equal(source_in, 0)
        context = model.get_layer("attention")([out, enc_in], mask=[None, source_mask])
        features = model.get_layer("attention_concat")([out, context])
        features = model.get_layer("attention_projection")(features)
    probs = model.get_layer("output")(features)
    return encoder, keras.Model(inputs, [probs, h_out, c_out], name="decoder_step")


# -- training -------------------------------------------------------------------------------

def _target_arrays(tokenizer: Tokenizer, targets: Sequence[str],
                   max_target_length: int) -> tuple[np.ndarray, np.ndarray]:
    width = max_target_length + 1
    t_in = np.zeros((len(targets), width), dtype=np.int32)
    t_out = np.zeros((len(targets), width), dtype=np.int32)
    for row, text in enumerate(targets):
        ids = tokenizer.encode(text)
        t_in[row, : len(ids) + 1] = [_START_ID, *ids]
        t_out[row, : len(ids) + 1] = [*ids, _END_ID]
    return t_in, t_out


def _check_int(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")


def train_seq2seq(
    dataset_path: Path, out_dir: Path, *, source_field: str = "source",
    target_field: str = "target", split_field: str | None = "split",
    max_source_length: int = 64, max_target_length: int = 32,
    target_level: Literal["word", "char"] = "word", target_lowercase: bool | None = None,
    vocabulary_size: int = 20_000, min_count: int = 1, embedding_dim: int = 64, units: int = 128,
    attention: Literal["none", "dot", "additive"] = "none", epochs: int = 10,
    batch_size: int = 64, learning_rate: float = 1e-3, val_fraction: float = 0.1,
    test_fraction: float = 0.1, seed: int = 0, eval_beam_width: int = 1,
    prefix_lengths: Sequence[int] = (3,), lowercase: bool = True,
    punctuation: Literal["drop", "split"] = "drop", numbers: Literal["keep", "mask"] = "keep",
    progress: ProgressCallback | None = None,
) -> dict:
    """Train an encoder–decoder LSTM on JSONL ``{"source", "target"}`` pairs.

    Parameters
    ----------
    dataset_path : Path
        JSONL, one object per line; an optional ``split`` field (train/val/test) fixes the split,
        otherwise a seeded random split with ``val_fraction`` and ``test_fraction``.
    out_dir : Path
        Existing empty folder for ``model.keras``, ``seq2seq.json``, the two tokenizers,
        ``history.json``, ``curves.png``, ``metrics.json`` and ``test_predictions.csv``.
    source_field, target_field, split_field : str
        Field names.
    max_source_length : int
        Source tokens kept (longer sources are truncated at the end).
    max_target_length : int
        Limit on target tokens; a longer target is an :class:`InputError` naming its line.
    target_level : {"word", "char"}
        Target tokens: words (punctuation kept as tokens) or characters (e.g. ICD codes).
    target_lowercase : bool, optional
        Lower-case targets; default True for words and False for characters.
    vocabulary_size, min_count : int
        Source vocabulary cap (reserved tokens included) and minimum count; targets keep every
        token of the training split.
    embedding_dim, units : int
        Embedding width and LSTM units (encoder and decoder).
    attention : {"none", "dot", "additive"}
        Luong-style ``keras.layers.Attention`` or Bahdanau-style ``AdditiveAttention`` over the
        encoder outputs.
    epochs, batch_size, learning_rate : training settings (Adam).
    seed : int
        Seed for the split, initialisation and shuffling.
    eval_beam_width : int
        Beam width used to decode the test split (1 = greedy).
    prefix_lengths : sequence of int
        Also report the share of predictions whose first k characters match (k=3: ICD-10
        category).
    lowercase, punctuation, numbers
        Source tokenisation, see :mod:`osler.kernels.text.tokenize`.
    progress : callable, optional
        ``progress(fraction, message)``; exceptions propagate and stop training or decoding.

    Returns
    -------
    dict
        ``{"model": {...}, "metrics": {"exact_match", "token_accuracy", "chrf",
        "prefix_match": {...}}, "samples": {...}, ...}``.
    """
    import keras

    for name, value in (("max_source_length", max_source_length),
                        ("max_target_length", max_target_length),
                        ("vocabulary_size", vocabulary_size), ("min_count", min_count),
                        ("embedding_dim", embedding_dim), ("units", units), ("epochs", epochs),
                        ("batch_size", batch_size), ("eval_beam_width", eval_beam_width)):
        _check_int(name, value)
    if attention not in ("none", "dot", "additive"):
        raise InputError(f"attention must be 'none', 'dot' or 'additive', got {attention!r}")
    if not learning_rate > 0:
        raise InputError(f"learning_rate must be positive, got {learning_rate!r}")
    out_dir = Path(out_dir)
    dataset_path = Path(dataset_path)
    source_tok = Tokenizer(TokenizerConfig(level="word", lowercase=lowercase,
                                           punctuation=punctuation, numbers=numbers))
    target_tok = Tokenizer(target_tokenizer_config(target_level, target_lowercase))

    report(progress, 0.0, "reading dataset")
    seed_everything(seed)
    pairs = datasets.read_pairs(dataset_path, source_field=source_field,
                                target_field=target_field, split_field=split_field,
                                target_length=lambda t: len(target_tok.tokenize(t)),
                                max_target_length=max_target_length)
    splits = datasets.assign_splits(len(pairs.sources), pairs.splits, val_fraction=val_fraction,
                                    test_fraction=test_fraction, seed=seed)
    train, val, test = (splits[s] for s in datasets.SPLITS)
    source_tok = source_tok.with_vocabulary((pairs.sources[i] for i in train),
                                            min_count=min_count, max_size=vocabulary_size)
    target_tok = target_tok.with_vocabulary(pairs.targets[i] for i in train)
    x = source_tok.encode_batch(pairs.sources, max_source_length)
    t_in, t_out = _target_arrays(target_tok, pairs.targets, max_target_length)
    weights = (t_out != 0).astype(np.float32)

    model = build_model(source_vocabulary=len(source_tok.vocabulary),
                        target_vocabulary=len(target_tok.vocabulary),
                        embedding_dim=embedding_dim, units=units, attention=attention)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    steps_per_epoch = -(-len(train) // batch_size)
    report(progress, 0.05, f"training on {len(train)} pairs")
    started = time.perf_counter()
    history = model.fit(
        [x[train], t_in[train]], t_out[train], sample_weight=weights[train],
        batch_size=batch_size, epochs=epochs, verbose=0,
        validation_data=(([x[val], t_in[val]], t_out[val], weights[val]) if len(val) else None),
        callbacks=[progress_callback(progress, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                     span=0.7)])
    seconds = time.perf_counter() - started

    model.save(out_dir / MODEL_FILE)
    config = {"format_version": FORMAT_VERSION, "max_source_length": max_source_length,
              "max_target_length": max_target_length, "attention": attention}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    source_tok.save(out_dir / SOURCE_TOKENIZER_FILE)
    target_tok.save(out_dir / TARGET_TOKENIZER_FILE)
    curves = write_history(history.history, out_dir / "history.json")
    plot_curves(curves, out_dir / "curves.png")

    eval_split, rows = ("test", test) if len(test) else ("val", val)
    metrics: dict = {"split": None}
    if len(rows):
        encoder, step = inference_models(model, attention)
        bundle = Seq2SeqBundle(model, encoder, step, source_tok, target_tok, max_source_length,
                               max_target_length, attention)
        predicted = _decode_tokens(bundle, x[rows], beam_width=eval_beam_width,
                                   progress=progress, start=0.75, span=0.2)
        references = [target_tok.tokenize(pairs.targets[i]) for i in rows]
        metrics = {"split": eval_split, "beam_width": eval_beam_width,
                   **sequence_metrics(predicted, references, target_tok,
                                      prefix_lengths=prefix_lengths)}
        with (out_dir / TEST_PREDICTIONS_FILE).open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "reference", "prediction", "exact"])
            for i, ref, pred in zip(rows, references, predicted, strict=True):
                writer.writerow([pairs.lines[i], target_tok.join(ref), target_tok.join(pred),
                                 int(ref == pred)])
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1), encoding="utf-8")
    report(progress, 1.0, "done")
    artifacts = [MODEL_FILE, CONFIG_FILE, SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE,
                 "history.json", "curves.png", "metrics.json"]
    if len(rows):
        artifacts.append(TEST_PREDICTIONS_FILE)
    return {
        "model": {
            "framework": "keras", "file": MODEL_FILE, "config_file": CONFIG_FILE,
            "source_tokenizer_file": SOURCE_TOKENIZER_FILE,
            "target_tokenizer_file": TARGET_TOKENIZER_FILE,
            "source_tokenizer": source_tok.to_dict()["config"],
            "target_tokenizer": target_tok.to_dict()["config"],
            "attention": attention,
            "source_vocabulary_size": len(source_tok.vocabulary),
            "target_vocabulary_size": len(target_tok.vocabulary),
            "parameters": int(model.count_params()),
        },
        "metrics": metrics,
        "samples": {name: int(len(splits[name])) for name in datasets.SPLITS},
        "epochs": epochs,
        "train_seconds": round(seconds, 3),
        "final": {k: v[-1] for k, v in curves.items()},
        "artifacts": artifacts,
    }


# -- metrics --------------------------------------------------------------------------------

def chrf(hypotheses: Sequence[str], references: Sequence[str], *, max_order: int = 6,
         beta: float = 2.0) -> float:
    """Corpus-level chrF (Popović 2015) in [0, 100], whitespace ignored, as sacreBLEU computes it.

    Character n-gram counts for n = 1..``max_order`` are summed over the corpus; precision and
    recall are averaged over the orders that occur, then combined as an F-beta score.
    """
    matches = np.zeros(max_order)
    hyp_total = np.zeros(max_order)
    ref_total = np.zeros(max_order)
    for hyp, ref in zip(hypotheses, references, strict=True):
        hyp, ref = "".join(hyp.split()), "".join(ref.split())
        for n in range(1, max_order + 1):
            h = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
            r = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
            matches[n - 1] += sum((h & r).values())
            hyp_total[n - 1] += sum(h.values())
            ref_total[n - 1] += sum(r.values())
    precisions, recalls = [], []
    for n in range(max_order):
        if hyp_total[n] > 0 and ref_total[n] > 0:
            precisions.append(matches[n] / hyp_total[n])
            recalls.append(matches[n] / ref_total[n])
    if not precisions:
        return 0.0
    p, r = float(np.mean(precisions)), float(np.mean(recalls))
    if p + r == 0:
        return 0.0
    b2 = beta * beta
    return 100.0 * (1 + b2) * p * r / (b2 * p + r)


def sequence_metrics(predicted: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                     tokenizer: Tokenizer, *, prefix_lengths: Sequence[int] = ()) -> dict:
    """Exact match, token accuracy, chrF and prefix matches of decoded token lists.

    ``token_accuracy`` is the share of reference tokens whose position holds the same token in
    the prediction (missing positions count as wrong). ``prefix_match[k]`` compares the first
    ``k`` characters of the joined strings.
    """
    total = sum(len(r) for r in references)
    correct = sum(sum(p == r for p, r in zip(pred, ref, strict=False))
                  for pred, ref in zip(predicted, references, strict=True))
    pred_text = [tokenizer.join(p) for p in predicted]
    ref_text = [tokenizer.join(r) for r in references]
    n = max(len(references), 1)
    return {
        "samples": len(references),
        "exact_match": sum(p == r for p, r in zip(pred_text, ref_text, strict=True)) / n,
        "token_accuracy": correct / total if total else 0.0,
        "chrf": chrf(pred_text, ref_text),
        "prefix_match": {str(k): sum(p[:k] == r[:k] for p, r in
                                     zip(pred_text, ref_text, strict=True)) / n
                         for k in prefix_lengths},
    }


# -- inference ------------------------------------------------------------------------------

def load_seq2seq(model_dir: Path) -> Seq2SeqBundle:
    """Load ``model.keras`` (safe mode) and tokenizers; rebuild encoder and step decoder."""
    model_dir = Path(model_dir)
    config = read_model_config(model_dir, CONFIG_FILE, "seq2seq", FORMAT_VERSION)
    model = load_keras_model(model_dir / MODEL_FILE)
    encoder, step = inference_models(model, config["attention"])
    return Seq2SeqBundle(model, encoder, step, Tokenizer.load(model_dir / SOURCE_TOKENIZER_FILE),
                         Tokenizer.load(model_dir / TARGET_TOKENIZER_FILE),
                         int(config["max_source_length"]), int(config["max_target_length"]),
                         config["attention"])


def _step(bundle: Seq2SeqBundle, tokens: np.ndarray, h: np.ndarray, c: np.ndarray,
          enc_out: np.ndarray, source: np.ndarray):
    inputs = [tokens[:, None].astype(np.int32), h, c]
    if bundle.attention != "none":
        inputs += [enc_out, source]
    probs, h, c = bundle.step.predict_on_batch(inputs)
    # float64 so distinct float32 probabilities keep distinct logs (beam 1 == greedy exactly).
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64)[:, 0, :], 1e-300))
    logp[:, list(_NEVER_EMITTED)] = -np.inf
    return logp, np.asarray(h), np.asarray(c)


def _greedy(bundle: Seq2SeqBundle, source: np.ndarray) -> list[list[int]]:
    enc_out, h, c = (np.asarray(a) for a in bundle.encoder.predict_on_batch(source))
    n = len(source)
    tokens = np.full(n, _START_ID, dtype=np.int32)
    out: list[list[int]] = [[] for _ in range(n)]
    done = np.zeros(n, dtype=bool)
    for _ in range(bundle.max_target_length + 1):
        logp, h, c = _step(bundle, tokens, h, c, enc_out, source)
        tokens = logp.argmax(axis=1).astype(np.int32)
        for i in np.flatnonzero(~done):
            if tokens[i] == _END_ID or len(out[i]) == bundle.max_target_length:
                done[i] = True
            else:
                out[i].append(int(tokens[i]))
        if done.all():
            break
    return out


def _beam(bundle: Seq2SeqBundle, source: np.ndarray, beam_width: int) -> list[int]:
    """Beam search for one source row (shape ``(1, steps)``)."""
    enc_out, h, c = (np.asarray(a) for a in bundle.encoder.predict_on_batch(source))
    live = [(0.0, [], h[0], c[0])]
    finished: list[tuple[float, list[int]]] = []
    while live:
        # A beam at the length limit is finished without its end token.
        finished += [(s, seq) for s, seq, *_ in live if len(seq) == bundle.max_target_length]
        live = [b for b in live if len(b[1]) < bundle.max_target_length]
        if not live:
            break
        tokens = np.array([b[1][-1] if b[1] else _START_ID for b in live], dtype=np.int32)
        k = len(live)
        logp, h, c = _step(bundle, tokens, np.stack([b[2] for b in live]),
                           np.stack([b[3] for b in live]), np.repeat(enc_out, k, axis=0),
                           np.repeat(source, k, axis=0))
        scores = np.array([b[0] for b in live])[:, None] + logp
        order = np.argsort(-scores, axis=None, kind="stable")[:beam_width]
        next_live = []
        for flat in order:
            b, token = divmod(int(flat), scores.shape[1])
            score, seq = float(scores[b, token]), live[b][1]
            if score == -np.inf:  # padding/start; sorted, so only such candidates remain
                break
            if token == _END_ID:
                finished.append((score, seq))
            else:
                next_live.append((score, [*seq, token], h[b], c[b]))
        live = next_live
        # Scores only fall as sequences grow, so a finished beam at least as good as every live
        # one cannot be beaten.
        if live and max(s for s, _ in finished or [(-np.inf, [])]) >= max(s for s, *_ in live):
            break
    return max(finished, key=lambda item: item[0])[1]


def _decode_tokens(bundle: Seq2SeqBundle, source: np.ndarray, *, beam_width: int = 1,
                   progress: ProgressCallback | None = None, start: float = 0.0,
                   span: float = 1.0) -> list[list[str]]:
    vocab = bundle.target_tokenizer.vocabulary
    ids: list[list[int]] = []
    chunk = DECODE_BATCH if beam_width == 1 else 1
    for first in range(0, len(source), chunk):
        rows = source[first:first + chunk]
        ids += _greedy(bundle, rows) if beam_width == 1 else [_beam(bundle, rows, beam_width)]
        if progress is not None and (beam_width == 1 or first % 50 == 0):
            report(progress, start + span * (first + len(rows)) / len(source), "decoding")
    return [[vocab.tokens[i] for i in seq] for seq in ids]


def decode(bundle: Seq2SeqBundle, sources: Sequence[str], beam_width: int = 1) -> list[str]:
    """Translate ``sources``; greedy with ``beam_width=1``, beam search otherwise.

    Returns
    -------
    list of str
        One decoded target per source, joined by the target tokenizer (characters concatenated,
        words space-separated).
    """
    if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
        raise InputError("sources must be a list of strings")
    _check_int("beam_width", beam_width)
    if not sources:
        return []
    x = bundle.source_tokenizer.encode_batch(list(sources), bundle.max_source_length)
    return [bundle.target_tokenizer.join(t) for t in _decode_tokens(bundle, x,
                                                                    beam_width=beam_width)]
