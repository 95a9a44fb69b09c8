"""word2vec, the LSTM sequence classifier and seq2seq through the service, on ICD-10-CM text."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import auth, upload, wait_for_job

pytest.importorskip("gensim")
pytest.importorskip("tensorflow")
pytest.importorskip("simple_icd_10_cm")

TOPICS = {
    "cardiac": ["heart", "cardiac", "arrhythmia", "infarction", "atrial", "ventricular"],
    "renal": ["kidney", "renal", "nephritis", "dialysis", "glomerular", "ureter"],
}


def topic_corpus(lines: int = 600) -> bytes:
    """Sentences that mix words of one topic only, so neighbours are determined by topic."""
    import random

    rng = random.Random(0)
    out = []
    for index in range(lines):
        words = TOPICS["cardiac" if index % 2 else "renal"]
        out.append(" ".join(rng.choice(words) for _ in range(8)))
    return ("\n".join(out) + "\n").encode()


@pytest.fixture(scope="module")
def icd10(tmp_path_factory):
    from osler.kernels.text.icd10 import build_icd10_datasets

    folder = tmp_path_factory.mktemp("icd10")
    build_icd10_datasets(folder, limit=300, seed=0)
    return folder


@pytest.fixture(scope="module")
def owner(app):
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    return TenantStore(connect(app.extensions["osler"].settings)).create_token("text-owner")


def train(client, token, kind, params, timeout=300):
    job = client.post("/v1/jobs", json={"kind": kind, "params": params}, headers=auth(token))
    assert job.status_code == 202, job.get_json()
    done = wait_for_job(client, token, job.get_json()["id"], timeout=timeout)
    assert done["state"] == "succeeded", done["error"]
    return done


@pytest.fixture(scope="module")
def word2vec(app, owner):
    client = app.test_client()
    dataset = upload(client, owner, "corpus.txt", topic_corpus()).get_json()
    return train(client, owner, "train-word2vec",
                 {"dataset": dataset["id"], "vector_size": 16, "min_count": 1, "epochs": 5,
                  "workers": 1, "window": 4})


def test_word2vec_similar_vectors_and_unknown_word(client, owner, word2vec):
    model_id = word2vec["result"]["model_id"]
    assert {"vectors.bin", "vocab.tsv", "projection.png"} <= {
        a["name"] for a in word2vec["artifacts"]}
    similar = client.post(f"/v1/models/{model_id}/similar", json={"word": "Cardiac", "topn": 3},
                          headers=auth(owner))
    assert similar.status_code == 200, similar.get_json()
    words = [hit["word"] for hit in similar.get_json()["similar"]]
    assert len(words) == 3 and set(words) <= set(TOPICS["cardiac"])
    vectors = client.post(f"/v1/models/{model_id}/vectors", json={"words": ["heart", "renal"]},
                          headers=auth(owner)).get_json()["vectors"]
    assert len(vectors["heart"]) == 16 and len(vectors["renal"]) == 16
    unknown = client.post(f"/v1/models/{model_id}/similar", json={"word": "zebra"},
                          headers=auth(owner))
    assert unknown.status_code == 404 and "zebra" in unknown.get_json()["detail"]
    # The worker's UnknownWord crosses Redis as itself: a problem type of its own, naming the word
    problem = unknown.get_json()
    assert problem["type"].endswith("/unknown-word") and problem["words"] == ["zebra"]
    bad = client.post(f"/v1/models/{model_id}/predict", json={"texts": ["x"]},
                      headers=auth(owner))
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("operation", "body", "needle"),
    [
        ("similar", {"word": ""}, "body.word: needs at least 1 characters"),
        ("similar", {"word": "heart", "topn": 0}, "body.topn: must be at least 1"),
        ("similar", {"topn": 3}, "'word' is a required property"),
        ("similar", {"word": "heart", "colour": "red"}, "colour"),
        ("vectors", {"words": ["w"] * 65}, "body.words: takes at most 64 items"),
        ("vectors", {"words": [3]}, "body.words.0: must be of type string"),
    ],
)
def test_inference_bodies_are_checked_against_the_kinds_schema_at_the_gateway(
        client, owner, word2vec, operation, body, needle):
    # These messages are the gateway's schema check, not the worker's; none quotes the value
    model_id = word2vec["result"]["model_id"]
    response = client.post(f"/v1/models/{model_id}/{operation}", json=body, headers=auth(owner))
    assert response.status_code == 422 and needle in response.get_json()["detail"]


@pytest.fixture(scope="module")
def sequence_classifier(app, owner, icd10):
    client = app.test_client()
    dataset = upload(client, owner, "chapters.csv",
                     (icd10 / "icd10cm_chapters.csv").read_bytes()).get_json()
    return train(client, owner, "train-sequence-classifier",
                 {"dataset": dataset["id"], "epochs": 2, "units": 16, "embedding_dim": 16})


def test_sequence_classifier_sync_predict_equals_the_models_own(
        client, owner, sequence_classifier, settings):
    from osler.kernels.text.sequence_classifier import load_sequence_classifier, predict_texts

    done = sequence_classifier
    assert {"model.keras", "metrics.json", "curves.png", "confusion_matrix.png"} <= {
        a["name"] for a in done["artifacts"]}
    model_id = done["result"]["model_id"]
    texts = ["Malignant neoplasm of spleen", "Laryngeal diphtheria", "Fracture of left femur"]
    response = client.post(f"/v1/models/{model_id}/predict", json={"texts": texts},
                           headers=auth(owner))
    assert response.status_code == 200, response.get_json()
    folder = next(settings.data_dir.glob(f"tenants/*/models/{model_id}"))
    expected = predict_texts(load_sequence_classifier(folder), texts)
    got = response.get_json()["predictions"]
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    for g, e in zip(got, expected, strict=True):
        for label, probability in e["probabilities"].items():
            assert abs(g["probabilities"][label] - probability) < 1e-5
    # Batch predict: one row per text, the same labels as the sync answer.
    batch = upload(client, owner, "texts.txt", ("\n".join(texts) + "\n").encode()).get_json()
    job = train(client, owner, "predict", {"model": model_id, "dataset": batch["id"]})
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/v1/jobs/{job['id']}/artifacts/predictions.csv", headers=auth(owner)).data.decode())))
    assert [row["label"] for row in rows] == [p["label"] for p in expected]


def test_seq2seq_sync_predict_equals_the_models_own_decoding(client, owner, icd10, settings):
    from osler.kernels.text.seq2seq import decode, load_seq2seq

    dataset = upload(client, owner, "codes.jsonl",
                     (icd10 / "icd10cm_codes.jsonl").read_bytes()).get_json()
    done = train(client, owner, "train-seq2seq",
                 {"dataset": dataset["id"], "epochs": 1, "units": 16, "embedding_dim": 8,
                  "target_level": "char"})
    model_id = done["result"]["model_id"]
    sources = ["Laryngeal diphtheria", "Gonococcal pneumonia"]
    response = client.post(f"/v1/models/{model_id}/predict",
                           json={"sources": sources, "beam_width": 2}, headers=auth(owner))
    assert response.status_code == 200, response.get_json()
    folder = next(settings.data_dir.glob(f"tenants/*/models/{model_id}"))
    assert response.get_json()["predictions"] == decode(load_seq2seq(folder), sources, 2)
    # The same through the Open Inference Protocol: BYTES in, BYTES out, beam_width a parameter
    v2 = client.post(f"/v2/models/{model_id}/infer", headers=auth(owner), json={
        "parameters": {"beam_width": 2},
        "inputs": [{"name": "sources", "shape": [2], "datatype": "BYTES", "data": sources}]})
    assert v2.status_code == 200, v2.get_json()
    assert v2.get_json()["outputs"] == [{"name": "predictions", "datatype": "BYTES", "shape": [2],
                                         "data": response.get_json()["predictions"]}]


def test_malformed_text_datasets_fail_with_clear_errors(client, owner):
    missing = upload(client, owner, "x.csv", b"words,label\nabc,1\n").get_json()
    done = wait_for_job(client, owner, client.post(
        "/v1/jobs", json={"kind": "train-sequence-classifier",
                          "params": {"dataset": missing["id"], "epochs": 1}},
        headers=auth(owner)).get_json()["id"])
    assert done["state"] == "failed" and "text" in done["error"]["message"]
    pairs = b'{"source": "a", "target": "b"}\n{oops\n'
    bad_json = upload(client, owner, "p.jsonl", pairs).get_json()
    done = wait_for_job(client, owner, client.post(
        "/v1/jobs", json={"kind": "train-seq2seq", "params": {"dataset": bad_json["id"]}},
        headers=auth(owner)).get_json()["id"])
    assert done["state"] == "failed" and "2" in done["error"]["message"]


def test_text_models_are_tenant_scoped(client, word2vec, new_token):
    other = new_token("other")
    model_id = word2vec["result"]["model_id"]
    assert client.post(f"/v1/models/{model_id}/similar", json={"word": "heart"},
                       headers=auth(other)).status_code == 404
    stolen = client.post("/v1/jobs", json={"kind": "train-sequence-classifier", "params": {
        "dataset": "00000000-0000-4000-8000-000000000000", "word2vec_model": model_id}},
        headers=auth(other))
    assert stolen.status_code == 422


def test_open_inference_protocol_texts_with_tritonclient_equal_v1_predict(
        client, owner, sequence_classifier, live_url):
    import numpy as np
    import tritonclient.http as triton

    model_id = sequence_classifier["result"]["model_id"]
    server = triton.InferenceServerClient(url=live_url.removeprefix("http://"))
    metadata = server.get_model_metadata(model_id, headers=auth(owner))
    assert metadata["inputs"] == [{"name": "texts", "datatype": "BYTES", "shape": [-1]}]
    classes = metadata["parameters"]["class_names"]
    texts = ["Malignant neoplasm of spleen", "Laryngeal diphtheria", "Fracture of left femur"]
    v1 = client.post(f"/v1/models/{model_id}/predict", json={"texts": texts},
                     headers=auth(owner)).get_json()["predictions"]
    tensor = triton.InferInput("texts", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=object))  # binary: length-prefixed UTF-8
    result = server.infer(model_id, [tensor], headers=auth(owner))
    np.testing.assert_allclose(
        result.as_numpy("probabilities"),
        [[p["probabilities"][c] for c in classes] for p in v1], atol=1e-6)
    assert [str(x) for x in result.as_numpy("labels")] == [p["label"] for p in v1]
    assert result.get_response()["model_version"] == "1"


def test_open_inference_protocol_word_vectors_equal_v1(client, owner, word2vec):
    model_id = word2vec["result"]["model_id"]
    v1 = client.post(f"/v1/models/{model_id}/vectors", json={"words": ["heart", "renal"]},
                     headers=auth(owner)).get_json()["vectors"]
    v2 = client.post(f"/v2/models/{model_id}/infer", headers=auth(owner), json={
        "inputs": [{"name": "words", "shape": [2], "datatype": "BYTES",
                    "data": ["heart", "renal"]}],
        "outputs": [{"name": "vectors"}]}).get_json()
    [vectors] = v2["outputs"]
    assert vectors["shape"] == [2, 16] and vectors["datatype"] == "FP32"
    assert vectors["data"] == v1["heart"] + v1["renal"]
    unknown = client.post(f"/v2/models/{model_id}/infer", headers=auth(owner), json={
        "inputs": [{"name": "words", "shape": [1], "datatype": "BYTES", "data": ["zebra"]}]})
    assert unknown.status_code == 404 and "zebra" in unknown.get_json()["error"]
    bad = client.post(f"/v2/models/{model_id}/infer", headers=auth(owner), json={
        "inputs": [{"name": "words", "shape": [3], "datatype": "BYTES", "data": ["heart"]}]})
    assert bad.status_code == 422 and bad.get_json() == {
        "error": "inputs.words: 1 values do not fill shape [3]"}
