"""Input that cannot hurt, through the real gateway (real Redis, Celery worker and Dask): bombs,
non-finite numbers, deep or large bodies, long file names, tampered cursors and a burst of
submits each get their documented 4xx, and no value read from a file reaches an error."""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.workers.datasets import MAX_FILE_NAME_CHARS, DatasetStore
from osler.workers.ids import new_id
from osler.workers.layout import LAYOUT
from osler.workers.redis_connection import connect
from osler.workers.storage import open_store
from osler.workers.tenants import TenantStore
from tests.bombs import MiB, bim_bomb_zip, padded_tar_gz
from tests.conftest import auth, npy_bytes, peak_rss_growth, upload, wait_for_job

CANARY = "PATIENT-CANARY-7"
RSS_GROWTH_LIMIT = 64 * MiB


def submit(client: Any, token: str, params: dict[str, Any], kind: str = "genome-distance") -> Any:
    return client.post("/v1/jobs", json={"kind": kind, "params": params}, headers=auth(token))


def post_raw(client: Any, token: str, data: bytes | str) -> Any:
    return client.post("/v1/jobs", data=data,
                       headers={**auth(token), "Content-Type": "application/json"})


def vcf_text(samples: list[str], records: list[str]) -> str:
    head = ["##fileformat=VCFv4.2", "##contig=<ID=1>",
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                       *samples])]
    return "\n".join(head + records) + "\n"


DIPLOID = [f"1\t{100 * (v + 1)}\trs{v}\tA\tG\t.\tPASS\t.\tGT\t0/1\t1/1\t0/0" for v in range(6)]


# --------------------------------------------------------------------------- bounded inspection


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {"bim": bim_bomb_zip(folder / "bim-bomb.zip"),
            "tar": padded_tar_gz(folder / "padded.tar.gz", 4096 * MiB)}


@pytest.mark.parametrize(("bomb", "needle"), [
    ("bim", "do not match"),                       # 200 MiB .bim counted as a stream
    ("tar", f"more than {256 * MiB} bytes"),       # 4 GiB of padding: stops at the budget
])
def test_archive_bombs_are_422_and_the_gateway_grows_under_64_mb(
    client, token, bombs, bomb, needle
):
    data = bombs[bomb].read_bytes()
    assert len(data) < 5 * MiB  # a few hundred KB (bim) or 4 MB (tar) for 200 MiB / 4 GiB
    dataset = upload(client, token, bombs[bomb].name, data).get_json()
    response, growth = peak_rss_growth(lambda: submit(client, token, {"dataset": dataset["id"]}))
    assert response.status_code == 422, response.get_json()
    assert needle in response.get_json()["detail"]
    assert growth < RSS_GROWTH_LIMIT, f"gateway RSS grew {growth / MiB:.0f} MiB"


# --------------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422_and_the_job_list_stays_valid_json(client, token, number):
    dataset = upload(client, token, "c.npy", npy_bytes(np.zeros((3, 4), np.int8))).get_json()
    body = f'{{"kind": "genome-distance", "params": {{"dataset": "{dataset["id"]}", ' \
           f'"maf": {number}}}}}'
    response = post_raw(client, token, body)
    assert response.status_code == 422
    assert "finite" in response.get_json()["detail"]

    def strict(name: str) -> None:
        raise AssertionError(f"{name} in a JSON answer")

    listing = client.get("/v1/jobs", headers=auth(token))
    assert json.loads(listing.data, parse_constant=strict)["jobs"] == []


@pytest.mark.parametrize("depth", [100_000, 40])
def test_deep_nesting_is_a_400_not_a_500(client, token, depth):
    body = '{"kind": "genome-distance", "params": {"dataset": ' + "[" * depth + "]" * depth + "}}"
    response = post_raw(client, token, body)
    assert response.status_code == 400
    assert "more than 32 deep" in response.get_json()["detail"]


def test_large_json_body_is_a_413(client, token):
    body = json.dumps({"kind": "genome-distance", "params": {"dataset": "x" * (2 * MiB)}})
    response = post_raw(client, token, body)
    assert response.status_code == 413
    assert str(MiB) in response.get_json()["detail"]


def test_malformed_json_is_a_400_giving_the_position_only(client, token):
    response = post_raw(client, token, '{"kind": "' + CANARY + '", ')
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "not valid JSON" in detail and "line 1" in detail and CANARY not in detail


# --------------------------------------------------------------------------- file names


def test_a_5000_character_file_name_is_shortened_keeping_its_suffix(client, token, settings):
    name = "x" * 5000 + ".vcf.gz"
    data = gzip.compress(vcf_text(["a", "b", "c"], DIPLOID).encode())
    response = upload(client, token, name, data)
    assert response.status_code == 201, response.get_json()
    dataset = response.get_json()
    assert dataset["name"] == name  # the full name stays in the metadata
    [folder] = list((settings.data_dir / "tenants").glob(f"*/datasets/{dataset['id']}"))
    [stored] = list(folder.iterdir())
    assert len(stored.name) <= MAX_FILE_NAME_CHARS and stored.name.endswith(".vcf.gz")
    # and the format its suffix tells still works end to end
    job = submit(client, token, {"dataset": dataset["id"], "plots": False}).get_json()
    assert wait_for_job(client, token, job["id"])["state"] == "succeeded"


def test_failed_uploads_leave_no_dataset_folder(client, settings):
    tenant = f"names-{uuid.uuid4().hex[:8]}"
    token = TenantStore(connect(settings)).create_token(tenant)
    response = upload(client, token, "..", b"data")  # no usable name at all
    assert response.status_code == 400
    # a failure after the upload was stored (here: its object vanished) removes the folder too
    objects = open_store(settings)
    store = DatasetStore(connect(settings), objects)
    dataset_id = new_id()
    with objects.open(f"{LAYOUT.dataset(tenant, dataset_id)}/other.txt", "wb") as handle:
        handle.write(b"left behind")
    with pytest.raises(FileNotFoundError):
        store.add(tenant, dataset_id, "a.npy", f"{LAYOUT.dataset(tenant, dataset_id)}/upload",
                  1, "0" * 64)
    assert objects.files(LAYOUT.datasets(tenant)) == []


# --------------------------------------------------------------------------- cursors


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("cursor", [
    b64("nan|x"), b64(f"nan|{uuid.uuid4()}"), b64(f"inf|{uuid.uuid4()}"),
    b64("1764582000.5|not-a-uuid"), b64("1764582000.5"), "%%%",
    base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
])
def test_tampered_cursor_is_a_400(client, token, cursor):
    response = client.get("/v1/jobs", query_string={"cursor": cursor}, headers=auth(token))
    assert response.status_code == 400
    assert "cursor" in response.get_json()["detail"]


# --------------------------------------------------------------------------- the active-job cap


def test_concurrent_submits_take_exactly_the_cap(settings, redis_server, tmp_path):
    # Given a gateway of its own on another Redis database (no worker consumes its queue, so
    # every accepted job stays active) with a cap of 100
    from osler.api import create_app

    own = settings.with_changes(redis_url=redis_server.url.rsplit("/", 1)[0] + "/1",
                                data_dir=tmp_path, max_active_jobs=100,
                                rate_limit="100000/s")  # the cap, not the rate quota
    redis = connect(own)
    redis.flushdb()
    try:
        app = create_app(own)
        token = TenantStore(redis).create_token("burst")
        dataset = upload(app.test_client(), token, "c.npy",
                         npy_bytes(np.zeros((4, 8), np.int8))).get_json()
        # When 130 threads submit at once
        start = threading.Barrier(130)
        codes: list[int] = []

        def one() -> None:
            client = app.test_client()
            start.wait()
            codes.append(submit(client, token, {"dataset": dataset["id"]}).status_code)

        threads = [threading.Thread(target=one) for _ in range(130)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Then exactly the cap is accepted and the rest are told why
        assert Counter(codes) == {202: 100, 429: 30}
        lister = app.test_client()
        listed = lister.get("/v1/jobs?limit=100", headers=auth(token)).get_json()
        rest = lister.get("/v1/jobs", query_string={"cursor": listed["next_cursor"]},
                          headers=auth(token)).get_json()
        assert len(listed["jobs"]) == 100 and rest["jobs"] == []
    finally:
        redis.flushdb()


# --------------------------------------------------------------------------- no ids in errors


def test_vcf_sample_names_never_reach_the_job_error(client, token):
    haploid = "1\t900\trs9\tA\tG\t.\tPASS\t.\tGT\t0/1\t1\t0/0"
    data = vcf_text(["s1", CANARY, "s3"], DIPLOID + [haploid]).encode()
    dataset = upload(client, token, "cohort.vcf", data).get_json()
    response = submit(client, token, {"dataset": dataset["id"], "plots": False})
    assert response.status_code == 202
    job = wait_for_job(client, token, response.get_json()["id"])
    assert job["state"] == "failed"
    assert "record 7: sample 2" in job["error"]["message"]
    assert CANARY not in json.dumps(job)


def plink_zip(fam: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"{CANARY}.fam", fam)
        zf.writestr(f"{CANARY}.bim", "1\trs1\t0\t1\tA\tG\n")
        zf.writestr(f"{CANARY}.bed", b"\x6c\x1b\x01\x00")
    return buffer.getvalue()


@pytest.mark.parametrize(("kind", "name", "data", "needle"), [
    ("genome-distance", "fileset.zip", plink_zip(f"f1 s1 0 0 0 -9\n{CANARY}\n"),
     ".fam line 2 has 1 field"),
    ("genome-distance", "fileset.zip",
     plink_zip(f"f1 {CANARY} 0 0 0 -9\n" + "f s 0 0 0 -9\n" * 4), "do not match"),
    ("genome-distance", "bad.vcf", f"{CANARY}\n", "line 1 is not"),
    ("drug-similarity", "library.csv", f"CCO,{CANARY}\nCC,other\n", "has 2 columns"),
])
def test_submit_time_errors_name_numbers_never_values_from_the_file(
    client, token, kind, name, data, needle
):
    dataset = upload(client, token, name, data if isinstance(data, bytes) else data.encode())
    param = "dataset" if kind == "genome-distance" else "library"
    response = submit(client, token, {param: dataset.get_json()["id"]}, kind=kind)
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert needle in detail and CANARY not in detail
