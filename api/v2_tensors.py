"""Typed tensors of the Open Inference Protocol (KServe v2) to and from osler's inference bodies.

Each model kind has a :class:`Signature`: the input tensors it accepts (exactly one per request),
the output tensors it answers and how each maps to the ``/v1`` operation's body and answer, so
``/v2/models/<id>/infer`` runs the very handler ``/v1/models/<id>/<op>`` runs. Tensors come as
JSON (``data`` flat or nested, row-major) or in the binary-data extension Triton's clients send by
default (``Inference-Header-Content-Length``); answers are JSON.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from osler.workers.errors import BadRequest, InvalidParams
from osler.workers.kinds.models import (
    IMAGE_CLASSIFIER,
    SEQ2SEQ,
    SEQUENCE_CLASSIFIER,
    WORD2VEC,
)
from osler.workers.models import Model

NUMERIC = {"FP16": "<f2", "FP32": "<f4", "FP64": "<f8", "INT8": "<i1", "INT16": "<i2",
           "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4",
           "UINT64": "<u8"}
"""Numeric datatypes osler reads (little-endian in the binary extension) as numbers."""

BINARY_HEADER = "Inference-Header-Content-Length"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]
    """-1 for a dimension of any size (the first is always the batch)."""

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    operation: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    to_body: Callable[[TensorSpec, Any, dict[str, Any]], dict[str, Any]]
    """(the input's spec, its values as a numpy array or list of str, request parameters)."""
    from_answer: Callable[[dict[str, Any]], dict[str, tuple[list[int], Any]]]
    """The operation's answer as {output name: (shape, flat data)}."""


def _probabilities(model: Model, answer: dict[str, Any]) -> dict[str, tuple[list[int], Any]]:
    predictions = answer["predictions"]
    names = model.class_names or (list(predictions[0]["probabilities"]) if predictions else [])
    rows = [[p["probabilities"][name] for name in names] for p in predictions]
    return {
        "probabilities": ([len(rows), len(names)], [v for row in rows for v in row]),
        "labels": ([len(rows)], [p["label"] for p in predictions]),
    }


def _classifier_outputs(model: Model) -> tuple[TensorSpec, ...]:
    classes = len(model.class_names) if model.class_names else -1
    return (TensorSpec("probabilities", "FP32", (-1, classes)),
            TensorSpec("labels", "BYTES", (-1,)))


def signature(model: Model) -> Signature:
    """How ``model`` speaks v2 (422 for a kind that has no tensor form)."""
    if model.kind == IMAGE_CLASSIFIER.name:
        shape = tuple(model.input_shape or (-1, -1, -1))
        return Signature(
            "predict", (TensorSpec("images", "FP32", (-1, *shape)),), _classifier_outputs(model),
            lambda spec, values, params: {"arrays": [image.tolist() for image in values]},
            lambda answer: _probabilities(model, answer),
        )
    if model.kind == SEQUENCE_CLASSIFIER.name:
        if model.details.get("input") == "signal":
            spec = TensorSpec("sequences", "FP32", (-1, -1, -1))
        else:
            spec = TensorSpec("texts", "BYTES", (-1,))
        return Signature(
            "predict", (spec,), _classifier_outputs(model),
            lambda spec, values, params: {spec.name: values if spec.datatype == "BYTES"
                                          else values.tolist()},
            lambda answer: _probabilities(model, answer),
        )
    if model.kind == SEQ2SEQ.name:
        return Signature(
            "predict", (TensorSpec("sources", "BYTES", (-1,)),),
            (TensorSpec("predictions", "BYTES", (-1,)),),
            lambda spec, values, params: {"sources": values,
                                          **({"beam_width": params["beam_width"]}
                                             if "beam_width" in params else {})},
            lambda answer: {"predictions": ([len(answer["predictions"])],
                                            answer["predictions"])},
        )
    if model.kind == WORD2VEC.name:
        def vectors(answer: dict[str, Any]) -> dict[str, tuple[list[int], Any]]:
            rows = list(answer["vectors"].values())
            width = len(rows[0]) if rows else 0
            return {"vectors": ([len(rows), width], [v for row in rows for v in row])}

        return Signature(
            "vectors", (TensorSpec("words", "BYTES", (-1,)),),
            (TensorSpec("vectors", "FP32", (-1, -1)),),
            lambda spec, values, params: {"words": values}, vectors,
        )
    raise InvalidParams(f"models of kind {model.kind} have no tensor form")


# --- reading a request -------------------------------------------------------------------------


def read_request(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The request's JSON document and the binary data after it (empty without the extension)."""
    if header_length is None:
        split = len(raw)
    else:
        try:
            split = int(header_length)
        except ValueError:
            split = -1
        if not 0 < split <= len(raw):
            raise BadRequest(f"{BINARY_HEADER} must be the JSON header's length in bytes")
    try:
        document = json.loads(raw[:split])
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the inference request is not valid JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise BadRequest('the inference request must be a JSON object with an "inputs" list')
    return document, raw[split:]


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flat(item))
    return out


def _bytes_elements(blob: bytes, where: str) -> list[str]:
    values, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise InvalidParams(f"{where}: truncated BYTES element")
        (length,) = struct.unpack_from("<I", blob, offset)
        offset += 4
        if offset + length > len(blob):
            raise InvalidParams(f"{where}: truncated BYTES element")
        values.append(blob[offset:offset + length].decode("utf-8", errors="replace"))
        offset += length
    return values


def decode_input(tensor: Any, spec: TensorSpec, binary: bytes, offset: int) -> tuple[Any, int]:
    """One input tensor's values (an array of ``spec``'s shape, or a list of str for BYTES) and
    the offset of the next tensor's binary data."""
    where = f"inputs.{spec.name}"
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise InvalidParams(f"{where}.shape must be a list of non-negative integers")
    if len(shape) != len(spec.shape) or any(
            want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True)):
        raise InvalidParams(f"{where}.shape must be {list(spec.shape)} (-1: any size)")
    datatype = tensor.get("datatype")
    numeric = spec.datatype != "BYTES"
    if (numeric and datatype not in NUMERIC) or (not numeric and datatype != "BYTES"):
        raise InvalidParams(f"{where}.datatype must be {spec.datatype}")
    count = math.prod(shape)
    size = (tensor.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InvalidParams(f"{where}: binary_data_size runs past the request body")
        blob = binary[offset:offset + size]
        offset += size
        if numeric:
            itemsize = np.dtype(NUMERIC[datatype]).itemsize
            if size != count * itemsize:
                raise InvalidParams(f"{where}: {size} bytes do not hold shape {shape}")
            values: Any = np.frombuffer(blob, dtype=NUMERIC[datatype]).astype(np.float32)
        else:
            values = _bytes_elements(blob, where)
    elif "data" in tensor:
        values = _flat(tensor["data"])
        if numeric:
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                raise InvalidParams(f"{where}.data must hold numbers")
            values = np.asarray(values, dtype=np.float32)
        elif not all(isinstance(v, str) for v in values):
            raise InvalidParams(f"{where}.data must hold strings")
    else:
        raise InvalidParams(f"{where} needs data (or binary_data_size)")
    if len(values) != count:
        raise InvalidParams(f"{where}: {len(values)} values do not fill shape {shape}")
    if numeric:
        values = values.reshape(shape)
        if not np.isfinite(values).all():
            raise InvalidParams(f"{where}.data must be finite numbers")
    return values, offset


def encode_outputs(signature_: Signature, answer: dict[str, Any],
                   requested: list[Any] | None) -> list[dict[str, Any]]:
    """The answer as output tensors, only those ``requested`` (all when None)."""
    tensors = signature_.from_answer(answer)
    specs = {spec.name: spec for spec in signature_.outputs}
    names = list(specs)
    if requested is not None:
        names = []
        for item in requested:
            name = item.get("name") if isinstance(item, dict) else None
            if name not in specs:
                raise InvalidParams(f"outputs: a model answers {', '.join(specs)}")
            names.append(name)
    return [{"name": name, "datatype": specs[name].datatype, "shape": tensors[name][0],
             "data": tensors[name][1]} for name in names]
