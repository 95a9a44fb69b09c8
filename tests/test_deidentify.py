"""DICOM de-identification at upload (``deidentify=true``), on pydicom's bundled test files."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from osler.workers.redis_connection import connect
from osler.workers.tenants import TenantStore
from tests.conftest import auth

FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm")

IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "SeriesDate",
               "AcquisitionDate", "ContentDate", "InstitutionName", "InstitutionAddress",
               "ReferringPhysicianName", "StudyInstanceUID", "SOPInstanceUID")


def originals(path: str) -> dict[str, str]:
    dataset = pydicom.dcmread(path)
    return {k: str(dataset.get(k)) for k in IDENTIFYING if str(dataset.get(k) or "").strip()}


def every_value(dataset: pydicom.Dataset) -> list[str]:
    values = [str(e.value) for e in dataset.file_meta]
    for element in dataset.iterall():
        # Manufacturer is kept (Annex E keeps it); MR_small's institution is "TOSHIBA" and its
        # manufacturer "TOSHIBA_MEC".
        if element.keyword not in ("PixelData", "Manufacturer") and element.VR != "SQ":
            values.append(str(element.value))
    return values


def send(client, token, name: str, data: bytes, **query: str):
    return client.post(
        "/v1/datasets", query_string=query,
        data={"file": (io.BytesIO(data), name), **({"deidentify": "true"} if not query else {})},
        headers=auth(token), content_type="multipart/form-data",
    )


def stored_path(settings, tenant_token, client, dataset_id: str) -> Path:
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    tenant = TenantStore(connect(settings)).authenticate(tenant_token)
    folder = settings.data_dir / "tenants" / tenant / "datasets" / dataset_id
    (path,) = folder.iterdir()
    return path


def check_deidentified(stored: pydicom.Dataset, source: str) -> None:
    original = pydicom.dcmread(source)
    values = every_value(stored)
    for keyword, value in originals(source).items():
        assert not any(value in v for v in values), keyword
    assert stored.PatientIdentityRemoved == "YES"
    assert "dicognito" in stored.DeidentificationMethod
    assert [c.CodeValue for c in stored.DeidentificationMethodCodeSequence] == ["113100",
                                                                                "113107"]
    assert not any(e.tag.is_private for e in stored.iterall())
    if "PixelData" in original:
        assert stored.PixelData == original.PixelData
        assert (stored.Rows, stored.Columns, stored.Modality) == (
            original.Rows, original.Columns, original.Modality)


def test_a_deidentified_zip_keeps_pixels_and_loses_every_identifier(client, token, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in FILES:
            archive.write(get_testdata_file(name), f"images/{name}")
        archive.writestr("labels.csv", "file,label\n")
    answer = send(client, token, "study.zip", buffer.getvalue())
    assert answer.status_code == 201, answer.get_json()
    dataset = answer.get_json()
    report = dataset["deidentification"]
    assert report["files"] == len(FILES) and report["not_dicom_members"] == 1
    assert report["replaced"]["PatientName"] == len(FILES)
    assert report["replaced"]["PatientID"] >= len(FILES)  # also inside sequences
    assert report["replaced"]["StudyDate"] >= 3
    text = json.dumps(report)
    for name in FILES:
        for value in originals(get_testdata_file(name)).values():
            assert value not in text
    path = stored_path(settings, token, client, dataset["id"])
    raw = path.read_bytes()
    assert dataset["size"] == len(raw)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(["labels.csv"] + [f"images/{n}"
                                                                      for n in FILES])
        for name in FILES:
            stored = pydicom.dcmread(io.BytesIO(archive.read(f"images/{name}")))
            check_deidentified(stored, get_testdata_file(name))
        # One study stays one study: the two MR/CT files keep distinct, consistent new UIDs.
        uids = {pydicom.dcmread(io.BytesIO(archive.read(f"images/{n}"))).SOPInstanceUID
                for n in FILES}
        assert len(uids) == len(FILES)
    listed = client.get(f"/v1/datasets/{dataset['id']}", headers=auth(token)).get_json()
    assert listed["deidentification"] == report


def test_a_single_dcm_by_query_parameter(client, token, settings):
    source = get_testdata_file("CT_small.dcm")
    answer = send(client, token, "ct.dcm", Path(source).read_bytes(), deidentify="true")
    assert answer.status_code == 201, answer.get_json()
    path = stored_path(settings, token, client, answer.get_json()["id"])
    raw = path.read_bytes()
    for value in ("CompressedSamples^CT1", "JFK IMAGING CENTER"):
        assert value.encode() not in raw
    check_deidentified(pydicom.dcmread(path), source)


def test_without_deidentify_the_file_is_stored_as_sent(client, token, settings):
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    answer = client.post("/v1/datasets", data={"file": (io.BytesIO(data), "ct.dcm")},
                         headers=auth(token), content_type="multipart/form-data")
    assert answer.status_code == 201 and "deidentification" not in answer.get_json()
    assert stored_path(settings, token, client, answer.get_json()["id"]).read_bytes() == data


@pytest.mark.parametrize("name, data, query", [
    ("cohort.npy", b"\x93NUMPY...", {"deidentify": "true"}),
    ("fake.dcm", b"PatientName ZQXCANARY not dicom", {"deidentify": "true"}),
    ("broken.zip", b"PK\x03\x04ZQXCANARY", {"deidentify": "true"}),
    ("ct.dcm", b"\0" * 128 + b"DICM" + b"ZQXCANARY", {"deidentify": "true"}),
    ("ct.dcm", b"x", {"deidentify": "maybe"}),
])
def test_bad_deidentify_uploads_are_400_and_store_nothing(client, token, settings, name, data,
                                                          query):
    answer = send(client, token, name, data, **query)
    assert answer.status_code == 400, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert "ZQXCANARY" not in answer.get_data(as_text=True)
    assert client.get("/v1/datasets", headers=auth(token)).get_json()["datasets"] == []
    tenant = TenantStore(connect(settings)).authenticate(token)
    assert list((settings.data_dir / "tenants" / tenant).glob("datasets/*")) == []
    assert list(settings.data_dir.glob("deidentify-*")) == []  # its scratch copy went too


def test_a_zip_bomb_is_refused_before_it_is_unpacked(client, token):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dcm", b"\0" * (64 * 1024 * 1024))
    answer = send(client, token, "bomb.zip", buffer.getvalue())
    assert answer.status_code == 413
