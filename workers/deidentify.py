"""DICOM de-identification of an upload, before it is stored (``deidentify=true``).

Each DICOM file goes through `dicognito <https://pypi.org/project/dicognito/>`_ (one anonymizer
per upload, so the files of one study stay one study): person names, the identifiers of patient,
study, accession and order, every UID, the institution and its address, equipment and station
names are replaced by consistent random values, and every date and time is shifted by one random
offset (62-730 days back), which keeps intervals between them. On top, osler removes private
tags and the free-text and patient-characteristic attributes PS3.15 Annex E's Basic Profile
removes that dicognito keeps (:data:`EXTRA_REMOVED`), and records the method in (0012,0062)
PatientIdentityRemoved, (0012,0063) DeidentificationMethod and (0012,0064)
DeidentificationMethodCodeSequence. Pixel data, geometry and acquisition attributes stay.

What was changed is counted per attribute keyword, never with a value.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

from osler.workers.errors import BadRequest, PayloadTooLarge

DICOM_SUFFIXES = (".dcm", ".dicom")

MAX_UNPACKED_BYTES = 4 * 1024**3
"""Most bytes the members of a DICOM zip may unpack to."""

MAX_RATIO = 200
"""Most a zip may expand (unpacked / packed); more is treated as a decompression bomb."""

EXTRA_REMOVED = (
    "AdditionalPatientHistory", "AdmittingDiagnosesDescription", "Allergies", "EthnicGroup",
    "ImageComments", "MedicalAlerts", "OtherPatientNames", "PatientAge", "PatientBirthName",
    "PatientComments", "PatientMotherBirthName", "PatientSize", "PatientWeight",
    "PerformedProcedureStepDescription", "ProtocolName", "RequestAttributesSequence",
    "RequestedProcedureDescription", "SeriesDescription", "StudyComments", "StudyDescription",
    "DerivationDescription", "DeviceSerialNumber", "PatientState", "PregnancyStatus",
)
"""Annex E Basic Profile "X" attributes dicognito leaves in place."""

PROFILE_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)


def method_name() -> str:
    return f"osler: dicognito {version('dicognito')}; PS3.15 Annex E Basic Profile"


def is_dicom_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(DICOM_SUFFIXES) or lower.endswith(".zip")


def _is_dicom(data: bytes) -> bool:
    return data[128:132] == b"DICM"


def _snapshot(dataset: Any) -> dict[tuple[int, ...], tuple[str, str]]:
    """(path of tags) -> (keyword, value as text) for every element but the pixels."""
    out: dict[tuple[int, ...], tuple[str, str]] = {}

    def walk(ds: Any, prefix: tuple[int, ...]) -> None:
        for element in ds:
            path = (*prefix, int(element.tag))
            if element.VR == "SQ":
                for index, item in enumerate(element.value):
                    walk(item, (*path, index))
                continue
            if element.keyword == "PixelData":
                continue
            keyword = element.keyword or ("private" if element.tag.is_private else "unknown")
            out[path] = (keyword, repr(element.value))

    walk(dataset.file_meta, ())
    walk(dataset, ())
    return out


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """pydicom's warnings quote the values they find odd (a name, a date): silence them."""
    import pydicom.config

    settings = pydicom.config.settings
    modes = settings.reading_validation_mode, settings.writing_validation_mode
    settings.reading_validation_mode = settings.writing_validation_mode = pydicom.config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = modes


class Deidentifier:
    """De-identifies the DICOM files of one upload, counting what it changed."""

    def __init__(self) -> None:
        from dicognito.anonymizer import Anonymizer

        self.anonymizer = Anonymizer()
        self.replaced: Counter[str] = Counter()
        self.removed: Counter[str] = Counter()
        self.files = 0
        self.not_dicom = 0

    def one(self, data: bytes, number: int) -> bytes:
        """The de-identified bytes of DICOM file ``number`` (1-based, for messages)."""
        import pydicom
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        with _quiet_pydicom():
            try:
                dataset = pydicom.dcmread(io.BytesIO(data))
                before = _snapshot(dataset)
                self.anonymizer.anonymize(dataset)
                dataset.remove_private_tags()
                for keyword in EXTRA_REMOVED:
                    if keyword in dataset:
                        delattr(dataset, keyword)
                dataset.PatientIdentityRemoved = "YES"
                dataset.DeidentificationMethod = method_name()
                codes = []
                for value, meaning in PROFILE_CODES:
                    item = Dataset()
                    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = (
                        value, "DCM", meaning)
                    codes.append(item)
                dataset.DeidentificationMethodCodeSequence = Sequence(codes)
                after = _snapshot(dataset)
                out = io.BytesIO()
                dataset.save_as(out, enforce_file_format=True)
            except Exception as exc:  # pydicom raises many types for malformed files
                raise BadRequest(
                    f"deidentify=true: DICOM file {number} of the upload cannot be read or "
                    f"rewritten ({type(exc).__name__})"
                ) from None
        for path, (keyword, value) in before.items():
            if path not in after:
                self.removed[keyword] += 1
            elif after[path][1] != value:
                self.replaced[keyword] += 1
        self.files += 1
        return out.getvalue()

    def report(self) -> dict[str, Any]:
        return {
            "method": method_name(),
            "profile": [code for code, _ in PROFILE_CODES],
            "files": self.files,
            "not_dicom_members": self.not_dicom,
            "replaced": dict(sorted(self.replaced.items())),
            "removed": dict(sorted(self.removed.items())),
        }


def deidentify_file(path: Path, filename: str) -> dict[str, Any]:
    """Rewrite the upload at ``path`` (a ``.dcm``, or a ``.zip`` holding DICOM files) with
    every DICOM file de-identified; returns the report of what changed (counts, no values)."""
    lower = filename.lower()
    worker = Deidentifier()
    if lower.endswith(DICOM_SUFFIXES):
        data = path.read_bytes()
        if not _is_dicom(data):
            raise BadRequest("deidentify=true: the upload is not a DICOM file")
        _replace(path, worker.one(data, 1))
    elif lower.endswith(".zip"):
        _deidentify_zip(path, worker)
        if worker.files == 0:
            raise BadRequest("deidentify=true: the zip holds no DICOM file")
    else:
        raise BadRequest("deidentify=true applies to DICOM uploads: a .dcm, or a .zip of them")
    return worker.report()


def _deidentify_zip(path: Path, worker: Deidentifier) -> None:
    staging: Path | None = None
    try:
        with zipfile.ZipFile(path) as source:
            members = [m for m in source.infolist() if not m.is_dir()]
            unpacked = sum(m.file_size for m in members)
            if unpacked > min(MAX_UNPACKED_BYTES, MAX_RATIO * max(path.stat().st_size, 1)):
                raise PayloadTooLarge("deidentify=true: the zip unpacks to too many bytes")
            fd, name = tempfile.mkstemp(prefix="deid-", suffix=".zip", dir=path.parent)
            staging = Path(name)
            with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as out:
                for number, member in enumerate(members, start=1):
                    with source.open(member) as stream:
                        data = stream.read(member.file_size + 1)
                    if len(data) > member.file_size:
                        raise PayloadTooLarge("deidentify=true: a zip member unpacks to more "
                                              "than it declares")
                    if _is_dicom(data):
                        data = worker.one(data, number)
                    else:
                        worker.not_dicom += 1
                    out.writestr(member, data)
        os.replace(staging, path)
        staging = None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise BadRequest(
            f"deidentify=true: the zip cannot be read ({type(exc).__name__})"
        ) from None
    finally:
        if staging is not None:
            staging.unlink(missing_ok=True)


def _replace(path: Path, data: bytes) -> None:
    fd, staging = tempfile.mkstemp(prefix="deid-", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(staging, path)
