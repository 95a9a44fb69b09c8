"""The job lifecycle over HTTP, with a real Redis, Celery worker and Dask cluster."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.conftest import auth, npy_bytes, upload, wait_for_job


def genotypes(n: int, m: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.05, 0.5, size=m)
    return rng.binomial(2, freqs, size=(n, m)).astype(np.int8)


def submit(client, token, params, kind="genome-distance", headers=None):
    return client.post(
        "/v1/jobs",
        json={"kind": kind, "params": params},
        headers={**auth(token), **(headers or {})},
    )


@pytest.fixture
def cohort(client, token):
    array = genotypes(37, 500, seed=1)
    dataset = upload(client, token, "cohort.npy", npy_bytes(array)).get_json()
    return array, dataset


def test_submit_poll_and_fetch_matrix_equal_to_float64_reference(client, token, cohort):
    array, dataset = cohort
    # When a job is submitted with a block size that does not divide n
    response = submit(client, token, {"dataset": dataset["id"], "block_size": 10})
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert set(job) == {
        "id", "kind", "state", "params", "progress", "created_at", "started_at",
        "finished_at", "attempts", "error", "result", "artifacts", "queue",
    }
    assert job["state"] == "queued"
    assert job["queue"]["name"] == "compute" and job["queue"]["position"] >= 1
    # Then it succeeds with the seed formula's matrix
    done = wait_for_job(client, token, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 1
    assert done["progress"]["fraction"] == 1.0
    names = {a["name"]: a for a in done["artifacts"]}
    assert {"matrix.npy", "heatmap.png"} <= set(names)
    matrix_response = client.get(
        f"/v1/jobs/{job['id']}/artifacts/matrix.npy", headers=auth(token)
    )
    assert matrix_response.status_code == 200
    assert matrix_response.mimetype == names["matrix.npy"]["media_type"]
    matrix = np.load(io.BytesIO(matrix_response.data), allow_pickle=False)
    a = array.astype(np.float64)
    expected = a @ a.T / a.shape[1]
    assert matrix.dtype == np.float32
    np.testing.assert_allclose(matrix, expected, rtol=1e-5, atol=1e-6)
    png = client.get(f"/v1/jobs/{job['id']}/artifacts/heatmap.png", headers=auth(token))
    assert png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_list_is_newest_first_and_paginates_with_cursor(client, new_token, cohort):
    token = new_token("list")
    dataset = upload(client, token, "c.npy", npy_bytes(genotypes(5, 20))).get_json()
    ids = [
        submit(client, token, {"dataset": dataset["id"], "plots": False}).get_json()["id"]
        for _ in range(5)
    ]
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/jobs", query_string=query, headers=auth(token)).get_json()
        assert len(page["jobs"]) <= 2
        seen += [job["id"] for job in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    for job_id in ids:
        wait_for_job(client, token, job_id)
    filtered = client.get(
        "/v1/jobs", query_string={"state": "succeeded", "kind": "genome-distance"},
        headers=auth(token),
    ).get_json()
    assert {job["id"] for job in filtered["jobs"]} == set(ids)
    none = client.get("/v1/jobs", query_string={"kind": "nope"}, headers=auth(token)).get_json()
    assert none["jobs"] == []


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "x"}, {"state": "done"}, {"owner": "x"}, {"cursor": "!!"}]
)
def test_list_rejects_bad_queries(client, token, query):
    response = client.get("/v1/jobs", query_string=query, headers=auth(token))
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_idempotency_key_returns_the_same_job_and_rejects_a_different_body(client, token, cohort):
    _, dataset = cohort
    params = {"dataset": dataset["id"], "plots": False}
    first = submit(client, token, params, headers={"Idempotency-Key": "k-1"})
    again = submit(client, token, params, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    other = submit(client, token, {**params, "metric": "dot", "block_size": 9},
                   headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["detail"]
    too_long = submit(client, token, params, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 422 and "Idempotency-Key" in too_long.get_json()["detail"]
    wait_for_job(client, token, first.get_json()["id"])


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"kind": "no-such-kind", "params": {}}, 422, "unknown job kind"),
        ({"kind": "genome-distance", "params": {"dataset": "x", "colour": "red"}}, 422, "colour"),
        ({"kind": "genome-distance", "params": {}}, 422, "dataset"),
        ({"kind": "genome-distance", "params": {"dataset": "x", "metric": "cosine"}}, 422,
         "metric"),
        ({"kind": "genome-distance", "params": {"dataset": "x", "block_size": 2}}, 422,
         "block_size"),
        ({"kind": "genome-distance", "params": {"dataset": "x", "block_size": 5000}}, 422,
         "block_size"),
        ({"kind": "genome-distance", "params": {"dataset": "not-a-dataset"}}, 422, "dataset"),
        ({"kind": "genome-distance", "owner": "someone-else"}, 422, "owner"),
        ([1, 2, 3], 400, "JSON object"),
    ],
)
def test_bad_job_requests_get_a_problem_naming_the_field(client, token, body, status, needle):
    response = client.post("/v1/jobs", json=body, headers=auth(token))
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == status and needle in problem["detail"]


def test_body_without_a_json_content_type_is_a_415_naming_the_header(client, token):
    response = client.post(
        "/v1/jobs", data="kind=genome", headers={**auth(token), "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "Content-Type: application/json" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("array", "needle"),
    [
        (np.array([[0.0, 1.0], [2.0, 1.0]]), "float"),
        (np.array([[0, 1, 3], [2, 1, 0]], dtype=np.int8), "3"),
        (np.array([0, 1, 2, 1], dtype=np.int8), "1-D"),
    ],
)
def test_bad_genotype_matrices_are_refused_and_existing_jobs_stay_intact(
    client, token, cohort, array, needle
):
    _, good = cohort
    kept = submit(client, token, {"dataset": good["id"], "plots": False}).get_json()
    bad = upload(client, token, "bad.npy", npy_bytes(array)).get_json()
    response = submit(client, token, {"dataset": bad["id"]})
    assert response.status_code == 422
    assert needle in response.get_json()["detail"]
    assert wait_for_job(client, token, kept["id"])["state"] == "succeeded"


def test_unreadable_npy_is_refused(client, token):
    bad = upload(client, token, "junk.npy", b"this is not numpy").get_json()
    response = submit(client, token, {"dataset": bad["id"]})
    assert response.status_code == 422


def test_artifact_names_outside_the_job_are_404(client, token, cohort):
    _, dataset = cohort
    job = submit(client, token, {"dataset": dataset["id"], "plots": False}).get_json()
    wait_for_job(client, token, job["id"])
    for name in ("..%2F..%2Fclient.json", "nope.npy", "heatmap.png"):
        response = client.get(f"/v1/jobs/{job['id']}/artifacts/{name}", headers=auth(token))
        assert response.status_code == 404


def test_cancel_of_a_finished_job_is_a_409(client, token, cohort):
    _, dataset = cohort
    job = submit(client, token, {"dataset": dataset["id"], "plots": False}).get_json()
    wait_for_job(client, token, job["id"])
    response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(token))
    assert response.status_code == 409


def test_openapi_lists_routes_and_kind_schemas_and_docs_render(client):
    spec = client.get("/openapi.json").get_json()
    assert "/v1/jobs" in spec["paths"] and "/v1/datasets/{dataset_id}" in spec["paths"]
    schema = spec["components"]["schemas"]["params-genome-distance"]
    assert schema["additionalProperties"] is False
    assert "metric" in schema["properties"]
    page = client.get("/docs")
    assert page.status_code == 200 and b"/openapi.json" in page.data
    script = client.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.data
    assert client.get("/docs/assets/index.html").status_code == 404
    assert json.loads(json.dumps(spec)) == spec


def test_openapi_is_valid_and_documents_every_model_route_from_its_schemas(client):
    from openapi_spec_validator import validate

    from osler.workers.kinds import all_model_kinds

    spec = client.get("/openapi.json").get_json()
    validate(spec)
    for kind in all_model_kinds().values():
        for op in kind.operations:
            route = spec["paths"][f"/v1/models/{{model_id}}/{op.name}"]["post"]
            refs = route["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
            name = f"body-{kind.name}-{op.name}"
            assert {"$ref": f"#/components/schemas/{name}"} in refs
            assert spec["components"]["schemas"][name]["properties"] == (
                op.body_schema["properties"])


def test_health_and_readiness_need_no_token(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["workers"]


# --- long polls: GET /v1/jobs/<id>?wait=S ------------------------------------------------


def queued_forever(settings, token: str) -> str:
    """A job record that no worker will ever run (created in the store, never sent to Celery)."""
    from osler.workers.jobs import JobStore
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    redis = connect(settings)
    tenant = TenantStore(redis).authenticate(token)
    return JobStore(redis, settings.ttl_seconds).create(tenant, "genome-distance", {}).id


def test_long_poll_answers_when_the_job_finishes(client, token, cohort):
    import time

    _, dataset = cohort
    job = submit(client, token, {"dataset": dataset["id"], "plots": False}).get_json()
    start = time.monotonic()
    response = client.get(f"/v1/jobs/{job['id']}?wait=30", headers=auth(token))
    assert response.status_code == 200
    assert response.get_json()["state"] == "succeeded"  # it waited for the end ...
    assert time.monotonic() - start < 20  # ... and answered then, not at the 30 s limit


def test_long_poll_times_out_with_the_job_as_it_is(client, token, settings):
    import time

    job_id = queued_forever(settings, token)
    start = time.monotonic()
    response = client.get(f"/v1/jobs/{job_id}?wait=0.6", headers=auth(token))
    elapsed = time.monotonic() - start
    assert response.status_code == 200
    assert response.get_json()["state"] == "queued"
    assert 0.55 <= elapsed < 5


def test_cancel_wakes_a_long_poll(client, app, token, settings):
    import threading
    import time

    job_id = queued_forever(settings, token)
    answers = []

    def waiter() -> None:
        with app.test_client() as other:
            start = time.monotonic()
            body = other.get(f"/v1/jobs/{job_id}?wait=25", headers=auth(token)).get_json()
            answers.append((body["state"], time.monotonic() - start))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)  # the waiter is subscribed by now (it re-reads the record anyway)
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=auth(token)).status_code == 202
    thread.join(timeout=30)
    state, elapsed = answers[0]
    assert state == "cancelled"
    assert elapsed < 5  # woken by the announcement, not by the 25 s limit


@pytest.mark.parametrize("wait", ["-1", "abc", "31", "nan", "inf"])
def test_bad_wait_is_a_400(client, token, settings, wait):
    job_id = queued_forever(settings, token)
    response = client.get(f"/v1/jobs/{job_id}?wait={wait}", headers=auth(token))
    assert response.status_code == 400
    assert "wait must be a number of seconds" in response.get_json()["detail"]


def test_long_poll_on_another_tenants_job_is_a_404(client, new_token, settings):
    job_id = queued_forever(settings, new_token("owner"))
    response = client.get(f"/v1/jobs/{job_id}?wait=5", headers=auth(new_token("other")))
    assert response.status_code == 404


def test_long_polls_past_the_limit_are_answered_at_once(client, app, token, settings):
    import threading
    import time

    from osler.api.jobs import WAITS_PER_PROCESS

    job_id = queued_forever(settings, token)

    def hold() -> None:
        with app.test_client() as other:
            other.get(f"/v1/jobs/{job_id}?wait=3", headers=auth(token))

    holders = [threading.Thread(target=hold) for _ in range(WAITS_PER_PROCESS)]
    for thread in holders:
        thread.start()
    time.sleep(0.5)  # every slot is taken
    start = time.monotonic()
    response = client.get(f"/v1/jobs/{job_id}?wait=3", headers=auth(token))
    assert response.status_code == 200 and response.get_json()["state"] == "queued"
    assert time.monotonic() - start < 1.5  # not held: the gateway keeps threads free
    for thread in holders:
        thread.join(timeout=10)
