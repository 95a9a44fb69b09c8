"""Datasets, tokens and tenant isolation."""

from __future__ import annotations

import hashlib
import io

import numpy as np

from tests.conftest import auth, npy_bytes, upload, wait_for_job


def test_upload_streams_to_the_store_with_sha256_and_lists(client, token, settings):
    data = npy_bytes(np.zeros((3, 4), dtype=np.int8))
    response = upload(client, token, "zeros.npy", data)
    assert response.status_code == 201
    dataset = response.get_json()
    assert set(dataset) == {"id", "name", "size", "sha256", "created_at"}
    assert dataset["name"] == "zeros.npy"
    assert dataset["size"] == len(data)
    assert dataset["sha256"] == hashlib.sha256(data).hexdigest()
    listed = client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"]
    assert [d["id"] for d in listed] == [dataset["id"]]
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=auth(token)).get_json() == dataset
    # The store holds the one file, under the dataset's folder, with the bytes sent.
    stored = list((settings.data_dir / "tenants").glob(f"*/datasets/{dataset['id']}/*"))
    assert [p.name for p in stored] == ["zeros.npy"] and stored[0].read_bytes() == data


def test_oversized_upload_is_413_and_stores_nothing(client, token, settings):
    too_big = b"0" * (settings.max_upload_bytes + 1)
    response = upload(client, token, "big.npy", too_big)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"] == []
    tenant_folders = (settings.data_dir / "tenants").glob("*/datasets/*/big.npy")
    assert list(tenant_folders) == []


def test_empty_file_and_wrong_parts_are_400(client, token):
    assert upload(client, token, "empty.npy", b"").status_code == 400
    wrong = client.post(
        "/v1/datasets",
        data={"data": (io.BytesIO(b"x"), "a.npy")},
        headers=auth(token),
        content_type="multipart/form-data",
    )
    assert wrong.status_code == 400 and "file" in wrong.get_json()["detail"]
    not_multipart = client.post("/v1/datasets", json={"file": "x"}, headers=auth(token))
    assert not_multipart.status_code == 400


def test_delete_dataset_is_409_while_a_job_uses_it_then_204(client, token):
    array = np.random.default_rng(0).integers(0, 3, size=(700, 3000), dtype=np.int8)
    dataset = upload(client, token, "c.npy", npy_bytes(array)).get_json()
    job = client.post(
        "/v1/jobs",
        json={"kind": "genome-distance", "params": {"dataset": dataset["id"], "block_size": 8}},
        headers=auth(token),
    ).get_json()
    busy = client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(token))
    assert busy.status_code == 409
    assert job["id"] in busy.get_json()["detail"]
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(token))
    wait_for_job(client, token, job["id"])
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(token)).status_code == 204
    assert client.get(f"/v1/datasets/{dataset['id']}", headers=auth(token)).status_code == 404


def test_missing_or_bad_token_is_401(client):
    assert client.get("/v1/jobs").status_code == 401
    assert client.get("/v1/jobs", headers=auth("not-a-token")).status_code == 401
    assert client.get("/v1/jobs", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/v1/datasets").status_code == 401


def test_another_tenants_job_dataset_and_artifact_are_404(client, new_token):
    alice, bob = new_token("alice"), new_token("bob")
    dataset = upload(client, alice, "c.npy", npy_bytes(np.ones((4, 10), np.int8))).get_json()
    job = client.post(
        "/v1/jobs",
        json={"kind": "genome-distance", "params": {"dataset": dataset["id"]}},
        headers=auth(alice),
    ).get_json()
    assert wait_for_job(client, alice, job["id"])["state"] == "succeeded"
    for path in (
        f"/v1/jobs/{job['id']}",
        f"/v1/jobs/{job['id']}/artifacts/matrix.npy",
        f"/v1/datasets/{dataset['id']}",
    ):
        assert client.get(path, headers=auth(bob)).status_code == 404
        assert client.get(path, headers=auth(alice)).status_code == 200
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(bob)).status_code == 404
    assert client.delete(f"/v1/datasets/{dataset['id']}", headers=auth(bob)).status_code == 404
    # Bob cannot run a job on Alice's dataset either.
    stolen = client.post(
        "/v1/jobs",
        json={"kind": "genome-distance", "params": {"dataset": dataset["id"]}},
        headers=auth(bob),
    )
    assert stolen.status_code == 422
    assert client.get("/v1/jobs", headers=auth(bob)).get_json()["jobs"] == []
