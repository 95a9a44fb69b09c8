"""LSTM sequence classifier: trains briefly, predicts exactly what the saved model computes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.text import sequence_classifier as sc
from tests.kernels.text_data import write_clinical_csv, write_group_corpus, write_signals

SMALL = {"embedding_dim": 8, "units": 8, "batch_size": 32, "learning_rate": 1e-2,
         "max_length": 12}


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqcls")
    data = root / "notes.csv"
    write_clinical_csv(data)
    out = root / "model"
    out.mkdir()
    summary = sc.train_sequence_classifier(data, out, epochs=2, **SMALL)
    return {"data": data, "out": out, "summary": summary,
            "bundle": sc.load_sequence_classifier(out)}


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _reference_ids(tokenizer_json: dict, text: str, max_length: int) -> list[int]:
    """Encode by the documented rules, independently of the tokenizer code."""
    import re

    index = {t: i for i, t in enumerate(tokenizer_json["vocabulary"]["tokens"])}
    words = re.findall(r"[^\W_]+", text.lower())
    ids = [index.get(w, 1) for w in words][:max_length]
    return ids + [0] * (max_length - len(ids))


def test_artifacts_and_summary(text_model):
    out, summary = text_model["out"], text_model["summary"]
    for name in ("model.keras", "tokenizer.json", "classifier.json", "history.json", "curves.png",
                 "confusion_matrix.png", "metrics.json"):
        assert (out / name).is_file(), name
    assert summary["model"]["class_names"] == ["cardio", "ortho"]
    assert summary["samples"] == {"train": 192, "val": 24, "test": 24}
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2


def test_predict_texts_equals_the_model_on_independently_encoded_ids(text_model):
    bundle, out = text_model["bundle"], text_model["out"]
    texts = ["Acute myocardial infarction of the heart", "FRACTURE of left femur, NOS",
             "unknown words only", ""]
    tokenizer_json = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    x = np.array([_reference_ids(tokenizer_json, t, 12) for t in texts], dtype=np.int32)
    np.testing.assert_array_equal(sc.encode_texts(bundle, texts), x)
    expected = np.asarray(bundle.model(x, training=False))
    results = sc.predict_texts(bundle, texts)
    assert [r["label"] for r in results] == [bundle.classes[k] for k in expected.argmax(axis=1)]
    got = np.array([[r["probabilities"][c] for c in bundle.classes] for r in results])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_metrics_json_agrees_with_sklearn_on_the_test_split(text_model):
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    rows = [r for r in _rows(text_model["data"]) if r["split"] == "test"]
    results = sc.predict_texts(text_model["bundle"], [r["text"] for r in rows])
    truth = [r["label"] for r in rows]
    predicted = [r["label"] for r in results]
    metrics = json.loads((text_model["out"] / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["samples"] == len(rows)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    auc = roc_auc_score([t == "ortho" for t in truth],
                        [r["probabilities"]["ortho"] for r in results])
    assert metrics["roc_auc_ovr"] == pytest.approx(auc)
    assert metrics["majority_baseline_accuracy"] == pytest.approx(0.5)


def test_batch_predict_writes_the_same_predictions(text_model, tmp_path):
    bundle = text_model["bundle"]
    summary = sc.batch_predict(bundle, text_model["data"], tmp_path)
    written = _rows(tmp_path / "predictions.csv")
    texts = [r["text"] for r in _rows(text_model["data"])]
    results = sc.predict_texts(bundle, texts)
    assert summary["predictions"] == len(texts) == len(written)
    assert [w["label"] for w in written] == [r["label"] for r in results]
    assert [int(w["line"]) for w in written] == list(range(2, len(texts) + 2))
    np.testing.assert_allclose([float(w["p_ortho"]) for w in written],
                               [r["probabilities"]["ortho"] for r in results], atol=1e-6)


def test_word2vec_initialised_frozen_embedding_keeps_the_vectors(tmp_path):
    from osler.kernels.text.word2vec import load_word2vec, train_word2vec

    corpus = tmp_path / "corpus.txt"
    write_group_corpus(corpus, sentences=40)
    # notes made of corpus words so the vocabulary overlaps the word2vec vocabulary
    data = tmp_path / "notes.csv"
    data.write_text("text,label\n" + "".join(
        f"g{g}w0 g{g}w1 g{g}w2,{'a' if g < 4 else 'b'}\n" for g in range(8) for _ in range(4)),
        encoding="utf-8")
    w2v_dir, out = tmp_path / "w2v", tmp_path / "cls"
    w2v_dir.mkdir()
    out.mkdir()
    train_word2vec(corpus, w2v_dir, vector_size=6, min_count=1, epochs=1, workers=1)
    summary = sc.train_sequence_classifier(data, out, word2vec_path=w2v_dir / "vectors.bin",
                                           freeze_embeddings=True, epochs=1, units=4,
                                           test_fraction=0.25, val_fraction=0.0)
    assert summary["word2vec_coverage"] == 1.0
    kv = load_word2vec(w2v_dir)
    bundle = sc.load_sequence_classifier(out)
    weights = bundle.model.get_layer("embedding").get_weights()[0]
    assert weights.shape[1] == 6
    for i, token in enumerate(bundle.tokenizer.vocabulary.tokens[4:], start=4):
        np.testing.assert_array_equal(weights[i], kv[token])


def test_numeric_signals_train_and_predict(tmp_path):
    data = tmp_path / "signals.npz"
    write_signals(data)
    out = tmp_path / "model"
    out.mkdir()
    summary = sc.train_sequence_classifier(data, out, epochs=1, units=4, batch_size=16,
                                           bidirectional=True)
    assert summary["model"]["input"] == "signal" and summary["model"]["tokenizer_file"] is None
    bundle = sc.load_sequence_classifier(out)
    x = np.load(data)["x"][:5]
    expected = np.asarray(bundle.model(x, training=False))
    results = sc.predict_signals(bundle, x)
    got = np.array([[r["probabilities"][c] for c in bundle.classes] for r in results])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"shape \(n, 16, 2\)"):
        sc.predict_signals(bundle, x[:, :8])
    with pytest.raises(InputError, match="not texts"):
        sc.predict_texts(bundle, ["text"])


def test_cancellation_from_progress_propagates(tmp_path):
    data = tmp_path / "notes.csv"
    write_clinical_csv(data, rows=40)

    class Cancelled(Exception):
        pass

    def cancel(fraction, message):
        if message.startswith("epoch 1/"):
            raise Cancelled

    with pytest.raises(Cancelled):
        sc.train_sequence_classifier(data, tmp_path, epochs=3, **SMALL, progress=cancel)
    assert not (tmp_path / "model.keras").exists()


def test_missing_label_column_is_an_input_error(tmp_path):
    data = tmp_path / "notes.csv"
    data.write_text("text,diagnosis\nchest pain,cardio\n", encoding="utf-8")
    with pytest.raises(InputError, match="missing column\\(s\\) 'label'"):
        sc.train_sequence_classifier(data, tmp_path)


def test_tfidf_baseline_uses_the_same_split_and_train_majority(tmp_path):
    from osler.kernels.text.baselines import tfidf_logistic_baseline

    data = tmp_path / "notes.csv"
    # train: 3 x "a", 1 x "b"; test: 1 x "a", 2 x "b" -> the majority baseline predicts "a"
    data.write_text("text,label,split\n"
                    "heart pain,a,train\nheart attack,a,train\nheart valve,a,train\n"
                    "bone break,b,train\nheart failure,a,test\nbone pain,b,test\n"
                    "bone fracture,b,test\n", encoding="utf-8")
    result = tfidf_logistic_baseline(data)
    assert result["split"] == "test"
    assert result["majority"] == {"label": "a", "accuracy": pytest.approx(1 / 3),
                                  "macro_f1": pytest.approx(0.5 * (2 * 1 / 3 / (1 + 1 / 3)))}
    assert result["tfidf_logistic"]["samples"] == 3
