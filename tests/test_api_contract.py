"""The API contract: /openapi.json is valid, names every route the app serves, and live answers
match its response schemas; the kinds, dry-run validation and sha256 routes; /docs in a browser."""

from __future__ import annotations

import hashlib
import re
import shutil

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import auth, npy_bytes, upload, wait_for_job


@pytest.fixture(scope="module")
def spec(app):
    return app.test_client().get("/openapi.json").get_json()


def conforms(spec, name, value):
    """Raise unless ``value`` matches ``components.schemas[name]`` of the document."""
    registry = Registry().with_resource(
        "urn:osler", Resource.from_contents(spec, default_specification=DRAFT202012))
    Draft202012Validator({"$ref": f"urn:osler#/components/schemas/{name}"},
                         registry=registry).validate(value)


def test_the_document_is_valid_openapi_3_1(spec):
    from openapi_spec_validator import validate

    validate(spec)
    assert spec["openapi"] == "3.1.0"


def test_every_route_the_app_serves_is_in_the_document(app, spec):
    served = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    documented = {(path, method) for path, ops in spec["paths"].items()
                  for method in ops if method != "parameters"}
    assert served - documented == set()
    assert documented - served == set()
    for path, method in documented:
        responses = spec["paths"][path][method]["responses"]
        assert any(code.startswith(("2", "3")) for code in responses), (path, method)
        assert all(r.get("description") or "$ref" in r for r in responses.values())


def test_every_job_kind_has_an_example_that_its_schema_accepts(spec):
    from osler.workers.kinds import all_kinds

    examples = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"][
        "application/json"]["examples"]
    assert set(examples) == set(all_kinds())
    for name, example in examples.items():
        assert example["value"]["kind"] == name
        conforms(spec, "JobRequest", example["value"])
    listed = {p["name"] for p in spec["paths"]["/v1/jobs"]["get"]["parameters"]}
    assert listed == {"state", "kind", "limit", "cursor"}


def test_live_answers_match_the_response_schemas(client, spec, new_token):
    token = new_token("contract")
    genotypes = np.random.default_rng(0).integers(0, 3, size=(6, 40)).astype(np.int8)
    dataset = upload(client, token, "g.npy", npy_bytes(genotypes)).get_json()
    conforms(spec, "Dataset", dataset)
    conforms(spec, "DatasetList", client.get("/v1/datasets", headers=auth(token)).get_json())
    job = client.post("/v1/jobs", json={"kind": "genome-distance",
                                        "params": {"dataset": dataset["id"]}},
                      headers=auth(token)).get_json()
    conforms(spec, "Job", job)
    conforms(spec, "Job", wait_for_job(client, token, job["id"]))
    conforms(spec, "JobPage", client.get("/v1/jobs", headers=auth(token)).get_json())
    conforms(spec, "ModelList", client.get("/v1/models", headers=auth(token)).get_json())
    conforms(spec, "KindList", client.get("/v1/kinds", headers=auth(token)).get_json())
    problem = client.get(f"/v1/jobs/{dataset['id']}", headers=auth(token))
    assert problem.status_code == 404 and problem.mimetype == "application/problem+json"
    conforms(spec, "Problem", problem.get_json())
    with pytest.raises(Exception, match="is a required property"):
        conforms(spec, "Job", {k: v for k, v in job.items() if k != "state"})


def test_kinds_routes_describe_params_and_dataset_params(client, token):
    kinds = client.get("/v1/kinds", headers=auth(token)).get_json()["kinds"]
    drug = next(k for k in kinds if k["name"] == "drug-similarity")
    assert drug["dataset_params"] == ["library", "queries"]
    assert client.get("/v1/kinds/drug-similarity", headers=auth(token)).get_json() == drug
    missing = client.get("/v1/kinds/nope", headers=auth(token))
    assert missing.status_code == 404 and "genome-distance" in missing.get_json()["detail"]
    assert client.get("/v1/kinds").status_code == 401


def test_validate_checks_a_multi_input_request_before_any_upload(client, token):
    def validate(body):
        return client.post("/v1/jobs/validate", json=body, headers=auth(token))

    ok = validate({"kind": "drug-similarity", "params": {"k": 3},
                   "pending": ["library", "queries"]})
    assert ok.status_code == 200, ok.get_json()
    assert ok.get_json()["params"]["k"] == 3 and "library" not in ok.get_json()["params"]
    wrong = validate({"kind": "drug-similarity", "pending": ["dataset"]})
    assert wrong.status_code == 422 and "library, queries" in wrong.get_json()["detail"]
    bad = validate({"kind": "drug-similarity", "params": {"k": -1}, "pending": ["library"]})
    assert bad.status_code == 422 and "params.k" in bad.get_json()["detail"]
    missing = validate({"kind": "genome-distance", "params": {}})
    assert missing.status_code == 422 and "'dataset' is a required property" in (
        missing.get_json()["detail"])
    unknown = validate({"kind": "genome-distance",
                        "params": {"dataset": "0b4f3a52-8c1d-4d8e-9f57-3d2a1c6b7e90"}})
    assert unknown.status_code == 422 and "no dataset with id" in unknown.get_json()["detail"]
    # Nothing was queued by any of these
    assert client.get("/v1/jobs", headers=auth(token)).get_json()["jobs"] == []


def test_datasets_filter_by_sha256(client, new_token):
    token = new_token("sha")
    data = npy_bytes(np.zeros((3, 4), np.int8))
    first = upload(client, token, "a.npy", data).get_json()
    upload(client, token, "b.npy", npy_bytes(np.ones((3, 4), np.int8)))
    digest = hashlib.sha256(data).hexdigest()
    found = client.get(f"/v1/datasets?sha256={digest}", headers=auth(token)).get_json()
    assert [d["id"] for d in found["datasets"]] == [first["id"]]
    assert client.get(f"/v1/datasets?sha256={'0' * 64}",
                      headers=auth(token)).get_json() == {"datasets": []}
    assert client.get("/v1/datasets?sha256=xyz", headers=auth(token)).status_code == 400


def test_docs_is_a_browsable_reference_at_1280px_served_offline(live_url, spec):
    sync_api = pytest.importorskip("playwright.sync_api")
    operations = sum(1 for ops in spec["paths"].values() for m in ops if m != "parameters")
    with sync_api.sync_playwright() as p:
        # The system's Chromium where there is one (no download), else playwright's own
        system = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = p.chromium.launch(executable_path=system)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            outside = []
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(live_url) else None)
            page.goto(f"{live_url}/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() == operations
            assert "osler" in page.locator(".info .title").inner_text()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 1280
            # The submit route shows each job kind's example request
            page.locator(".opblock-post .opblock-summary-path[data-path='/v1/jobs']").click()
            page.wait_for_selector(".opblock-post .opblock-body", timeout=10_000)
            options = page.locator(".opblock-post .opblock-body select option").all_inner_texts()
            examples = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"][
                "application/json"]["examples"]
            assert {e["summary"] for e in examples.values()} <= set(options)
        finally:
            browser.close()
    assert outside == []
