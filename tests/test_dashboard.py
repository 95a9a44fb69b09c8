"""The dashboard in a real browser (Debian's chromium driven by Playwright) against the real stack:
the gateway served over HTTP on 127.0.0.1, Redis, a Celery worker and Dask from conftest.py.

``OSLER_DASHBOARD_SCREENSHOTS=docs`` makes the run save the README's screenshots there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import auth, npy_bytes, upload, wait_for_job
from tests.test_reliability import slow_job, wait_running

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's browser (``.ci/run`` installs it); Playwright downloads nothing."""

SCREENSHOTS = os.environ.get("OSLER_DASHBOARD_SCREENSHOTS")
WAIT_MS = 90_000
"""Longest wait for a job to show its final state in the page."""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def base_url(live_url: str) -> str:
    """The session's app served over HTTP (``tests/conftest.py``)."""
    return live_url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


class Tab:
    """A browser tab of its own (own sessionStorage) that records what must never happen:
    an uncaught script error, a Content-Security-Policy violation, a dialog, a URL with the
    token in it."""

    def __init__(self, browser: Any, base_url: str, width: int = 1280) -> None:
        self.context = browser.new_context(base_url=base_url,
                                           viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.urls: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda request: self.urls.append(request.url))

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def sign_in(self, token: str) -> Tab:
        self.page.goto("/dashboard/sign-in")
        self.page.fill("#token", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_url("**/dashboard/")
        return self

    def stay_marker(self) -> None:
        """Mark the loaded document; :meth:`same_document` is true until a reload."""
        self.page.evaluate("window.oslerTestMarker = 1")

    def same_document(self) -> bool:
        return self.page.evaluate("window.oslerTestMarker === 1")

    def natural_width(self, selector: str) -> int:
        self.page.wait_for_function(
            "s => { const i = document.querySelector(s); return i && i.complete && "
            "i.naturalWidth > 0; }", arg=selector, timeout=WAIT_MS)
        return self.page.eval_on_selector(selector, "i => i.naturalWidth")


@pytest.fixture
def open_tab(browser: Any, base_url: str) -> Iterator[Callable[..., Tab]]:
    tabs: list[Tab] = []

    def make(token: str | None = None, width: int = 1280) -> Tab:
        tab = Tab(browser, base_url, width)
        tabs.append(tab)
        return tab.sign_in(token) if token else tab

    yield make
    for tab in tabs:
        tab.context.close()
    for tab in tabs:
        assert tab.errors == [], tab.errors
        assert tab.dialogs == [], tab.dialogs


def signed_in_token(tab: Tab) -> str | None:
    return tab.page.evaluate("sessionStorage.getItem('osler.token')")


def cohort_file(tmp_path: Path, n: int = 40, m: int = 600) -> Path:
    array = np.random.default_rng(7).integers(0, 3, size=(n, m), dtype=np.int8)
    path = tmp_path / "cohort.npy"
    path.write_bytes(npy_bytes(array))
    return path


def test_a_wrong_token_is_refused_and_the_right_one_signs_in_and_out(open_tab, token):
    tab = open_tab()
    page = tab.page
    # A page without a token sends the browser to sign in, and back after
    page.goto("/dashboard/datasets")
    page.wait_for_url("**/dashboard/sign-in?next=*")
    page.fill("#token", "not-a-token-" + uuid.uuid4().hex)
    page.press("#token", "Enter")
    page.wait_for_selector("#notice:not([hidden])")
    assert "refused" in page.text_content("#notice")
    assert "/dashboard/sign-in" in page.url and signed_in_token(tab) is None
    # The keyboard alone signs in: the token field has focus; Enter submits
    page.fill("#token", "")
    page.keyboard.type(token)
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/datasets")
    assert page.is_visible("text=No datasets yet.")
    assert signed_in_token(tab) == token
    assert page.context.cookies() == []
    assert not any(token in url for url in tab.urls)
    # Signing out forgets the token; the pages ask for it again
    page.click("#sign-out")
    page.wait_for_url("**/dashboard/sign-in")
    assert signed_in_token(tab) is None
    page.goto("/dashboard/")
    page.wait_for_url("**/dashboard/sign-in?next=*")


def test_submit_genome_distance_with_a_browser_upload_and_watch_it_succeed(
    open_tab, client, token, tmp_path
):
    cohort = cohort_file(tmp_path)
    tab = open_tab(token)
    page = tab.page
    # Given the form of genome-distance, generated from its schema
    page.goto("/dashboard/submit")
    page.select_option("#kind", "genome-distance")
    assert page.eval_on_selector("#param-metric", "s => s.tagName") == "SELECT"
    assert page.input_value("#param-metric") == "dot"  # the schema's default
    assert page.get_attribute("#param-block_size", "min") == "8"
    assert "samples per square tile" in page.text_content("#param-block_size-help")
    # When a file is uploaded in the browser and the job submitted
    page.select_option("#param-metric", "grm")
    page.set_input_files("#param-dataset-upload", str(cohort))
    page.click("#submit-button")
    page.wait_for_url("**/dashboard/jobs/*")
    job_id = page.url.rsplit("/", 1)[1]
    tab.stay_marker()
    # Then its progress bar reaches "succeeded" in the same document (no reload)
    page.wait_for_selector("#job-state >> text=succeeded", timeout=WAIT_MS)
    assert tab.same_document()
    assert page.eval_on_selector("#job-progress", "p => p.value") == 1
    assert page.is_hidden("#cancel")
    # The upload is the tenant's dataset, byte for byte
    datasets = client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"]
    assert [d["sha256"] for d in datasets] == [hashlib.sha256(cohort.read_bytes()).hexdigest()]
    # The heatmap and the PCs scatter are shown, and the CSV's first rows as a table
    assert tab.natural_width('[data-artifact="heatmap.png"] img') > 100
    assert tab.natural_width('[data-artifact="pcs.png"] img') > 100
    page.wait_for_selector('[data-artifact="pcs.csv"] table')
    shown = page.eval_on_selector(
        '[data-artifact="pcs.csv"] table',
        "t => [...t.rows].map(r => [...r.cells].map(c => c.textContent))")
    raw = client.get(f"/v1/jobs/{job_id}/artifacts/pcs.csv", headers=auth(token))
    expected = list(csv.reader(io.StringIO(raw.get_data(as_text=True))))
    assert shown == expected[: len(shown)] and len(shown) == min(21, len(expected))
    assert page.is_visible('[data-artifact="matrix.npy"] >> text=Download matrix.npy')
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard-job.png"), full_page=True)
    # "Run again" opens the form with the same params
    page.click("#run-again")
    page.wait_for_url("**/dashboard/submit?*")
    page.wait_for_selector("#param-metric")
    assert page.input_value("#kind") == "genome-distance"
    assert page.input_value("#param-metric") == "grm"
    assert page.input_value("#param-dataset") == datasets[0]["id"]
    # The jobs list shows it, filtered by kind and state
    page.goto("/dashboard/?state=succeeded&kind=genome-distance")
    row = page.wait_for_selector(f'tr[data-job-id="{job_id}"]')
    assert "succeeded" in row.text_content() and job_id[:8] in row.text_content()
    page.select_option("#filter-state", "failed")
    page.wait_for_selector(f'tr[data-job-id="{job_id}"]', state="detached")
    if SCREENSHOTS:
        jobs_list_screenshot(tab, client, token, datasets[0]["id"])


def jobs_list_screenshot(tab: Tab, client: Any, token: str, dataset_id: str) -> None:
    """The README's picture of the jobs list: finished jobs of a few metrics and a running one."""
    for metric in ("ibs", "king"):
        job = client.post("/v1/jobs", json={"kind": "genome-distance",
                                            "params": {"dataset": dataset_id, "metric": metric}},
                          headers=auth(token)).get_json()
        wait_for_job(client, token, job["id"])
    _, running = slow_job(client, token, n=1200)
    wait_running(client, token, running["id"], min_fraction=0.2)
    tab.page.set_viewport_size({"width": 1280, "height": 440})
    tab.page.goto("/dashboard/")
    tab.page.wait_for_selector(f'tr[data-job-id="{running["id"]}"] >> text=running')
    tab.page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard-jobs.png"))
    client.post(f"/v1/jobs/{running['id']}/cancel", headers=auth(token))


def test_the_apis_validation_error_appears_beside_the_field_it_names(
    open_tab, client, token, tmp_path
):
    dataset = upload(client, token, "c.npy", cohort_file(tmp_path).read_bytes()).get_json()
    page = open_tab(token).page
    page.goto("/dashboard/submit?kind=genome-distance")
    page.select_option("#param-dataset", dataset["id"])
    page.fill("#param-block_size", "2")
    page.click("#submit-button")
    error = page.wait_for_selector('[data-param="block_size"] .field-error:not([hidden])')
    assert error.text_content() == "must be at least 8"
    assert page.get_attribute("#param-block_size", "aria-invalid") == "true"
    assert "/dashboard/submit" in page.url
    assert client.get("/v1/jobs", headers=auth(token)).get_json()["jobs"] == []


def test_cancel_a_running_job_from_its_page(open_tab, client, token):
    _, job = slow_job(client, token, n=1200)
    wait_running(client, token, job["id"])
    tab = open_tab(token)
    page = tab.page
    # The dataset a running job uses cannot be deleted: the API's 409, in words
    page.goto("/dashboard/datasets")
    page.click('tr:has-text("slow.npy") button.danger')
    page.click('tr:has-text("slow.npy") button.danger')
    page.wait_for_selector("#notice:not([hidden])")
    assert "a queued or running job uses it" in page.text_content("#notice")
    # The list, open in another tab, follows the job without a reload
    lister = open_tab(token)
    lister.page.goto("/dashboard/")
    lister.page.wait_for_selector(f'tr[data-job-id="{job["id"]}"] >> text=running')
    lister.stay_marker()
    page.goto(f"/dashboard/jobs/{job['id']}")
    page.wait_for_selector("#job-state >> text=running")
    page.click("#cancel")
    page.wait_for_selector("#job-state >> text=cancelled")
    assert page.is_hidden("#cancel")
    final = client.get(f"/v1/jobs/{job['id']}", headers=auth(token)).get_json()
    assert final["state"] == "cancelled"
    lister.page.wait_for_selector(f'tr[data-job-id="{job["id"]}"] >> text=cancelled')
    assert lister.same_document()


def test_a_dataset_named_like_markup_is_shown_as_text_and_runs_nothing(
    open_tab, client, token
):
    name = "<img src=x onerror=alert(1)>.npy"
    dataset = upload(client, token, name, npy_bytes(np.ones((4, 6), np.int8))).get_json()
    tab = open_tab(token)
    page = tab.page
    page.goto("/dashboard/datasets")
    cell = page.wait_for_selector(f'tr[data-dataset-id="{dataset["id"]}"] td.name')
    assert cell.text_content() == name
    assert page.query_selector_all("#datasets img") == []
    page.goto("/dashboard/submit?kind=genome-distance")
    page.wait_for_selector("#param-dataset")
    assert name in page.text_content("#param-dataset")
    assert page.query_selector_all("img") == []
    page.wait_for_timeout(300)  # time for an injected onerror to fire, were there one
    assert tab.dialogs == []  # checked again by the fixture, with script errors


def test_tenant_b_sees_nothing_of_tenant_a(open_tab, client, new_token, tmp_path):
    alice, bob = new_token("alice"), new_token("bob")
    dataset = upload(client, alice, "alice-cohort.npy",
                     cohort_file(tmp_path).read_bytes()).get_json()
    job = client.post("/v1/jobs", json={"kind": "genome-distance",
                                        "params": {"dataset": dataset["id"], "plots": False}},
                      headers=auth(alice)).get_json()
    assert wait_for_job(client, alice, job["id"])["state"] == "succeeded"
    page = open_tab(bob).page
    page.goto(f"/dashboard/jobs/{job['id']}")
    page.wait_for_selector("#notice >> text=Job not found.")
    assert page.is_hidden("#job")
    page.goto("/dashboard/")
    page.wait_for_selector("#empty:not([hidden])")
    assert page.query_selector_all("#jobs tbody tr") == []
    page.goto("/dashboard/datasets")
    page.wait_for_selector("#empty:not([hidden])")
    assert "alice-cohort" not in page.content()
    page.goto(f"/dashboard/submit?kind=genome-distance&from={job['id']}")
    page.wait_for_selector("#notice:not([hidden])")
    assert "not found" in page.text_content("#notice").lower()
    assert "alice-cohort" not in page.content()


def test_pages_send_a_strict_content_security_policy_and_carry_no_inline_code(client):
    for path in ("/dashboard/", "/dashboard/sign-in", "/dashboard/submit", "/dashboard/datasets",
                 f"/dashboard/jobs/{uuid.uuid4()}", "/dashboard/models",
                 f"/dashboard/models/{uuid.uuid4()}"):
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe" not in policy
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and not re.search(r"\s(style|on\w+)=", html), path
    assert client.get("/").headers["Location"].endswith("/dashboard/")


def test_a_narrow_window_keeps_the_pages_readable(open_tab, token):
    page = open_tab(token, width=390).page
    for path in ("/dashboard/", "/dashboard/submit?kind=genome-distance", "/dashboard/datasets"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert page.is_visible("#sign-out")


@pytest.fixture(scope="module")
def image_model(app, tmp_path_factory):
    """A tiny image classifier trained through the API (about 20 s of TensorFlow)."""
    pytest.importorskip("tensorflow")
    from osler.kernels.imaging.sample_data import build_sample_dataset
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    client = app.test_client()
    token = TenantStore(connect(app.extensions["osler"].settings)).create_token(
        f"dash-images-{uuid.uuid4().hex[:8]}")
    folder = tmp_path_factory.mktemp("dash-images")
    build_sample_dataset(folder / "patches.npz", size=28, per_class=8, seed=0)
    dataset = upload(client, token, "patches.npz",
                     (folder / "patches.npz").read_bytes()).get_json()
    job = client.post("/v1/jobs", json={"kind": "train-image-classifier",
                                        "params": {"dataset": dataset["id"], "epochs": 1,
                                                   "batch_size": 16}},
                      headers=auth(token)).get_json()
    done = wait_for_job(client, token, job["id"], timeout=300)
    assert done["state"] == "succeeded", done["error"]
    with np.load(folder / "patches.npz") as data:
        image = data["test_images"][0]
    from PIL import Image

    Image.fromarray(image).save(folder / "patch.png")
    return {"token": token, "job": done, "dataset": dataset, "png": folder / "patch.png"}


def test_the_image_classifier_try_it_returns_a_label_and_an_overlay(open_tab, client,
                                                                     image_model):
    token, job = image_model["token"], image_model["job"]
    model_id = job["result"]["model_id"]
    model = client.get(f"/v1/models/{model_id}", headers=auth(token)).get_json()
    tab = open_tab(token)
    page = tab.page
    page.goto("/dashboard/models")
    page.click(f'tr[data-model-id="{model_id}"] a >> nth=0')
    page.wait_for_url(f"**/dashboard/models/{model_id}")
    # Lineage: the training job and the dataset's sha256; the training curves
    page.wait_for_selector(f'#lineage a[href="/dashboard/jobs/{job["id"]}"]')
    assert image_model["dataset"]["sha256"] in page.text_content("#lineage")
    assert tab.natural_width('#curves img[alt="curves.png"]') > 100
    # Try it: an image in, its label, probabilities and Grad-CAM overlay out
    page.set_input_files("#try-image", str(image_model["png"]))
    page.click("#try-it button[type=submit]")
    label = page.wait_for_selector(".try-result .label", timeout=WAIT_MS).text_content()
    assert label in model["class_names"]
    classes = page.eval_on_selector_all(".try-result tbody tr td:first-child",
                                        "cells => cells.map(c => c.textContent)")
    assert sorted(classes) == sorted(model["class_names"])
    assert tab.natural_width("img.saliency") == 28
    assert page.eval_on_selector("img.saliency", "i => i.getBoundingClientRect().width") >= 200
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "dashboard-model.png"), full_page=True)


def test_a_word2vec_try_it_shows_neighbours_and_an_unknown_word_as_text(
    open_tab, app, new_token
):
    pytest.importorskip("gensim")
    from tests.test_text_models import TOPICS, topic_corpus

    client = app.test_client()
    token = new_token("words")
    dataset = upload(client, token, "corpus.txt", topic_corpus()).get_json()
    job = client.post("/v1/jobs", json={"kind": "train-word2vec", "params": {
        "dataset": dataset["id"], "vector_size": 16, "min_count": 1, "epochs": 5, "workers": 1,
        "window": 4}}, headers=auth(token)).get_json()
    done = wait_for_job(client, token, job["id"], timeout=120)
    assert done["state"] == "succeeded", done["error"]
    page = open_tab(token).page
    page.goto(f"/dashboard/models/{done['result']['model_id']}")
    page.fill("#try-word", "cardiac")
    page.click("#try-it button[type=submit]")
    page.wait_for_selector(".try-result table")
    words = page.eval_on_selector_all(".try-result tbody tr td:first-child",
                                      "cells => cells.map(c => c.textContent)")
    # ten neighbours, most similar first: the other five words of the topic lead
    assert len(words) == 10 and set(words[:5]) == set(TOPICS["cardiac"]) - {"cardiac"}
    # An unknown word comes back as the API's 404, shown as text
    page.fill("#try-word", "<b>zebra</b>")
    page.click("#try-it button[type=submit]")
    error = page.wait_for_selector(".try-result .field-error")
    assert "<b>zebra</b>" in error.text_content()
    assert page.query_selector_all(".try-result b") == []


def test_upload_and_delete_a_dataset_on_its_page(open_tab, client, token, tmp_path):
    cohort = cohort_file(tmp_path)
    page = open_tab(token).page
    page.goto("/dashboard/datasets")
    page.set_input_files("#upload-file", str(cohort))
    page.click("#upload-form button[type=submit]")
    row = page.wait_for_selector('#datasets tr:has-text("cohort.npy")')
    stored = client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"]
    assert [d["sha256"] for d in stored] == [hashlib.sha256(cohort.read_bytes()).hexdigest()]
    assert stored[0]["sha256"] in row.text_content() and "KiB" in row.text_content()
    # The first click arms the button, the second deletes
    page.click('tr:has-text("cohort.npy") button.danger')
    assert client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"] != []
    page.click('tr:has-text("cohort.npy") button.danger')
    page.wait_for_selector("#empty:not([hidden])")
    assert client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"] == []


def test_the_jobs_list_pages_newest_first(open_tab, client, new_token):
    token = new_token("pages")
    dataset = upload(client, token, "tiny.npy", npy_bytes(np.ones((4, 6), np.int8))).get_json()
    ids = []
    for _ in range(3):
        job = client.post("/v1/jobs", json={"kind": "genome-distance", "params": {
            "dataset": dataset["id"], "plots": False}}, headers=auth(token)).get_json()
        ids.append(wait_for_job(client, token, job["id"])["id"])
    page = open_tab(token).page

    def shown() -> list[str]:
        return page.eval_on_selector_all("#jobs tbody tr", "rows => rows.map(r => r.dataset.jobId)")

    page.goto("/dashboard/?limit=2")
    page.wait_for_selector(f'tr[data-job-id="{ids[1]}"]')
    assert shown() == [ids[2], ids[1]]
    assert page.is_disabled("#newer") and page.is_enabled("#older")
    page.click("#older")
    page.wait_for_selector(f'tr[data-job-id="{ids[0]}"]')
    assert shown() == [ids[0]] and page.is_disabled("#older")
    page.click("#newer")
    page.wait_for_selector(f'tr[data-job-id="{ids[2]}"]')
    assert shown() == [ids[2], ids[1]]


def test_molecule_ids_in_a_csv_and_a_jobs_error_are_shown_as_text(open_tab, client, token):
    pytest.importorskip("rdkit")
    markup = "<img src=x onerror=alert(2)>"
    library = upload(client, token, "library.smi",
                     f"CCO {markup}\nc1ccccc1 benzene\nCC(=O)O acetic\n".encode()).get_json()
    broken = upload(client, token, "broken.smi", b"xx1 a\nyy2 b\n").get_json()
    jobs = [client.post("/v1/jobs", json={"kind": "drug-similarity", "params": {
        "library": d["id"], "k": 2}}, headers=auth(token)).get_json() for d in (library, broken)]
    tab = open_tab(token)
    page = tab.page
    # The hits table shows the id exactly as written in the file, as text
    page.goto(f"/dashboard/jobs/{jobs[0]['id']}")
    page.wait_for_selector("#job-state >> text=succeeded", timeout=WAIT_MS)
    page.wait_for_selector('[data-artifact="hits.csv"] table')
    cells = page.eval_on_selector_all('[data-artifact="hits.csv"] td',
                                      "cells => cells.map(c => c.textContent)")
    assert markup in cells
    assert page.query_selector_all('[data-artifact="hits.csv"] img') == []
    # A failed job shows its error's type and message
    page.goto(f"/dashboard/jobs/{jobs[1]['id']}")
    page.wait_for_selector("#job-state >> text=failed", timeout=WAIT_MS)
    failed = client.get(f"/v1/jobs/{jobs[1]['id']}", headers=auth(token)).get_json()
    assert page.text_content("#error-type") == failed["error"]["type"]
    assert page.text_content("#error-message") == failed["error"]["message"]
    assert "no valid molecule" in failed["error"]["message"]
    page.wait_for_timeout(300)
    assert tab.dialogs == []
