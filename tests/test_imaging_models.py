"""Train, register and serve a Keras CNN through the service (real TensorFlow on the worker)."""

from __future__ import annotations

import base64
import csv
import io

import numpy as np
import pytest

from tests.conftest import auth, upload, wait_for_job

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def sample_npz(tmp_path_factory):
    from osler.kernels.imaging.sample_data import build_sample_dataset

    path = tmp_path_factory.mktemp("images") / "patches.npz"
    build_sample_dataset(path, size=28, per_class=12, seed=0)
    return path


@pytest.fixture(scope="module")
def trained(app, sample_npz, tmp_path_factory):
    """One training job shared by the tests of this module (TensorFlow is slow to start)."""
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    client = app.test_client()
    settings = app.extensions["osler"].settings
    token = TenantStore(connect(settings)).create_token("imaging-owner")
    dataset = upload(client, token, "patches.npz", sample_npz.read_bytes()).get_json()
    job = client.post(
        "/v1/jobs",
        json={"kind": "train-image-classifier",
              "params": {"dataset": dataset["id"], "epochs": 2, "batch_size": 16}},
        headers=auth(token),
    ).get_json()
    done = wait_for_job(client, token, job["id"], timeout=300)
    other = TenantStore(connect(settings)).create_token("imaging-other")
    return {"token": token, "job": done, "dataset": dataset, "other_token": other}


def test_training_succeeds_registers_the_model_with_lineage(client, trained):
    job, token = trained["job"], trained["token"]
    assert job["state"] == "succeeded", job["error"]
    names = {a["name"] for a in job["artifacts"]}
    assert {"model.keras", "history.json", "curves.png", "confusion_matrix.png",
            "metrics.json"} <= names
    history = client.get(f"/v1/jobs/{job['id']}/artifacts/history.json",
                         headers=auth(token)).get_json()
    assert history["epochs_run"] >= 1 and len(history["history"]["loss"]) == history["epochs_run"]
    model = client.get(f"/v1/models/{job['result']['model_id']}", headers=auth(token)).get_json()
    assert model["kind"] == "image-classifier"
    assert model["training_job_id"] == job["id"]
    assert model["dataset_sha256"] == trained["dataset"]["sha256"]
    assert model["input_shape"] == [28, 28, 1]
    assert len(model["class_names"]) >= 2
    assert "accuracy" in model["metrics"]
    listed = client.get("/v1/models", headers=auth(token)).get_json()["models"]
    assert [m["id"] for m in listed] == [model["id"]]


def test_sync_predict_equals_the_models_own_output_and_explains(
    client, trained, sample_npz, settings
):
    from osler.kernels.imaging.inference import load_image_model

    token, model_id = trained["token"], trained["job"]["result"]["model_id"]
    with np.load(sample_npz) as data:
        images = data["test_images"][:3]
    response = client.post(
        f"/v1/models/{model_id}/predict",
        json={"arrays": [img.tolist() for img in images], "explain": True},
        headers=auth(token),
    )
    assert response.status_code == 200, response.get_json()
    predictions = response.get_json()["predictions"]
    assert len(predictions) == 3
    model_dir = next(settings.data_dir.glob(f"tenants/*/models/{model_id}"))
    keras_model = load_image_model(model_dir / "model.keras")
    expected = np.asarray(keras_model(images.reshape(-1, 28, 28, 1).astype("float32")))
    from PIL import Image

    for prediction, row in zip(predictions, expected, strict=True):
        probabilities = prediction["probabilities"]
        assert abs(sum(probabilities.values()) - 1) < 1e-5
        np.testing.assert_allclose(list(probabilities.values()), row, atol=1e-5)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
        overlay = Image.open(io.BytesIO(base64.b64decode(prediction["saliency_png"])))
        assert overlay.size == (28, 28)


def test_predict_accepts_base64_png(client, trained, sample_npz):
    from PIL import Image

    token, model_id = trained["token"], trained["job"]["result"]["model_id"]
    with np.load(sample_npz) as data:
        image = data["test_images"][0].reshape(28, 28)
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, format="PNG")
    response = client.post(
        f"/v1/models/{model_id}/predict",
        json={"images": [base64.b64encode(buffer.getvalue()).decode()]},
        headers=auth(token),
    )
    assert response.status_code == 200, response.get_json()
    assert "saliency_png" not in response.get_json()["predictions"][0]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"arrays": [np.zeros((10, 10)).tolist()]}, "28"),
        ({"arrays": [np.zeros((28, 28, 3)).tolist()]}, "28x28x1"),
        ({"images": ["%%% not base64"]}, "base64"),
        ({"arrays": [[0] * 10] * 65}, "64"),
        ({"pictures": []}, "pictures"),
    ],
)
def test_bad_predict_payloads_are_422(client, trained, payload, needle):
    token, model_id = trained["token"], trained["job"]["result"]["model_id"]
    response = client.post(f"/v1/models/{model_id}/predict", json=payload, headers=auth(token))
    assert response.status_code == 422
    assert needle in response.get_json()["detail"]


def test_batch_predict_writes_one_row_per_image(client, trained, sample_npz):
    token, model_id = trained["token"], trained["job"]["result"]["model_id"]
    with np.load(sample_npz) as data:
        images = data["test_images"]
    buffer = io.BytesIO()
    np.savez(buffer, images=images)
    dataset = upload(client, token, "batch.npz", buffer.getvalue()).get_json()
    job = client.post(
        "/v1/jobs",
        json={"kind": "predict", "params": {"model": model_id, "dataset": dataset["id"]}},
        headers=auth(token),
    ).get_json()
    done = wait_for_job(client, token, job["id"], timeout=180)
    assert done["state"] == "succeeded", done["error"]
    rows = list(csv.DictReader(io.StringIO(client.get(
        f"/v1/jobs/{job['id']}/artifacts/predictions.csv", headers=auth(token)).data.decode())))
    assert len(rows) == len(images)


def test_another_tenant_cannot_see_or_use_the_model(client, trained, new_token):
    model_id = trained["job"]["result"]["model_id"]
    other = new_token("other")
    assert client.get(f"/v1/models/{model_id}", headers=auth(other)).status_code == 404
    response = client.post(f"/v1/models/{model_id}/predict",
                           json={"arrays": [np.zeros((28, 28)).tolist()]}, headers=auth(other))
    assert response.status_code == 404
    assert client.delete(f"/v1/models/{model_id}", headers=auth(other)).status_code == 404
    owner = trained["token"]
    unknown = client.post(f"/v1/models/{model_id}/explode", json={}, headers=auth(owner))
    assert unknown.status_code == 404 and "explode" in unknown.get_json()["detail"]
    not_json = client.post(f"/v1/models/{model_id}/predict", data="x", headers=auth(owner))
    assert not_json.status_code == 415 and "Content-Type" in not_json.get_json()["detail"]
    bad_json = client.post(f"/v1/models/{model_id}/predict", data="x", headers=auth(owner),
                           content_type="application/json")
    assert bad_json.status_code == 400
    dataset = upload(client, other, "x.npz", b"not really").get_json()
    stolen = client.post(
        "/v1/jobs", json={"kind": "predict", "params": {"model": model_id,
                                                        "dataset": dataset["id"]}},
        headers=auth(other),
    )
    assert stolen.status_code == 422 and "model" in stolen.get_json()["detail"]


def test_a_dataset_of_the_wrong_format_is_refused(client, token):
    dataset = upload(client, token, "images.csv", b"a,b\n1,2\n").get_json()
    response = client.post(
        "/v1/jobs", json={"kind": "train-image-classifier", "params": {"dataset": dataset["id"]}},
        headers=auth(token),
    )
    assert response.status_code == 422 and ".npz" in response.get_json()["detail"]


def test_open_inference_protocol_with_tritonclient_equals_v1_predict(
        client, trained, sample_npz, live_url):
    import requests
    import tritonclient.http as triton
    from tritonclient.utils import InferenceServerException

    token, model_id = trained["token"], trained["job"]["result"]["model_id"]
    headers = auth(token)
    with np.load(sample_npz) as data:
        images = data["test_images"][:4].reshape(-1, 28, 28, 1).astype(np.float32)
    server = triton.InferenceServerClient(url=live_url.removeprefix("http://"))
    assert server.is_server_live() and server.is_server_ready()
    assert server.is_model_ready(model_id, headers=headers)
    metadata = server.get_model_metadata(model_id, headers=headers)
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32",
                                   "shape": [-1, 28, 28, 1]}]
    classes = metadata["parameters"]["class_names"]
    assert {o["name"] for o in metadata["outputs"]} == {"probabilities", "labels"}
    v1 = client.post(f"/v1/models/{model_id}/predict",
                     json={"arrays": images.reshape(-1, 28, 28).tolist()}, headers=headers)
    expected = np.array([[p["probabilities"][c] for c in classes]
                         for p in v1.get_json()["predictions"]])
    labels = [p["label"] for p in v1.get_json()["predictions"]]
    for binary in (True, False):  # Triton's binary extension (the client's default) and JSON
        tensor = triton.InferInput("images", list(images.shape), "FP32")
        tensor.set_data_from_numpy(images, binary_data=binary)
        # (the client adds its binary-header length to the headers dict it is given: copy it)
        result = server.infer(model_id, [tensor], headers=dict(headers), outputs=[
            triton.InferRequestedOutput("probabilities", binary_data=False),
            triton.InferRequestedOutput("labels", binary_data=False)])
        np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=1e-6)
        assert [str(x) for x in result.as_numpy("labels")] == labels
    # Errors: the protocol's {"error": ...} shape, the token required, another tenant's model
    with pytest.raises(InferenceServerException, match="no model with id"):
        server.get_model_metadata(model_id, headers=auth(trained["other_token"]))
    wrong = requests.post(f"{live_url}/v2/models/{model_id}/infer", headers=headers, json={
        "inputs": [{"name": "images", "shape": [1, 10, 10, 1], "datatype": "FP32",
                    "data": [0.0] * 100}]})
    assert wrong.status_code == 422 and "[-1, 28, 28, 1]" in wrong.json()["error"]
    anonymous = requests.get(f"{live_url}/v2/models/{model_id}")
    assert anonymous.status_code == 401 and set(anonymous.json()) == {"error"}
