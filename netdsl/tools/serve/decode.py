"""Request bodies into model inputs, refusing every bad value with the field it is in and what
was expected: JSON with no NaN or infinity, regular arrays of the input's shape and value type,
images (base64 or multipart files) decoded only after their pixels are counted. Pure functions
over bytes and parsed JSON; the web stack is not imported here."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...keras.predict import image_array
from .signature import InputSpec, Signature

__all__ = [
    "IMAGE_FORMATS",
    "MAX_PIXELS",
    "RequestError",
    "batch_of",
    "column_value",
    "image_from_bytes",
    "instances_of",
    "parse_json",
    "value_array",
]

#: the picture formats Pillow may open for a request (as ``netdsl predict`` reads them); never
#: the ones that run an interpreter (EPS) or read other files
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")

#: the most pixels a request's image may declare; counted before it is decoded (a 16 MB PNG
#: can declare gigapixels)
MAX_PIXELS = 1 << 24


@dataclass
class RequestError(Exception):
    """A request the server refuses: the HTTP status, what is wrong, the field it is in
    (``instances[3].x``) and what that field must hold."""

    status: int
    message: str
    field: str | None = None
    expected: str | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            data["field"] = self.field
        if self.expected is not None:
            data["expected"] = self.expected
        return data


def _constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not a number JSON allows")


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body; ``NaN`` and ``Infinity`` (which Python's parser
    would take) are refused, as are invalid UTF-8 and nesting deeper than the parser goes."""
    if not body.strip():
        raise RequestError(400, "the request has no body", "body", "a JSON object")
    try:
        return json.loads(body, parse_constant=_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        status = 422 if "is not a number JSON allows" in str(exc) else 400
        raise RequestError(status, f"not valid JSON: {exc}", "body", "a JSON object") from None
    except RecursionError:
        raise RequestError(400, "the JSON is nested too deeply", "body", "a JSON object") from None


def instances_of(doc: Any, keys: Sequence[str], limit: int) -> tuple[str, list[Any]]:
    """The instances of a request document: ``{"instances": [...]}`` (or one of the other
    ``keys``), at most ``limit`` of them; returns the key used and the list."""
    expected = " or ".join(f'{{"{k}": [...]}}' for k in keys)
    if not isinstance(doc, dict):
        raise RequestError(422, f"the body is a JSON {_kind(doc)}", "body", expected)
    found = [k for k in keys if k in doc]
    extra = sorted(set(doc) - set(keys) - {"signature_name"})
    if extra:
        raise RequestError(422, f"unknown field `{extra[0]}`", extra[0], expected)
    if len(found) != 1:
        what = "neither" if not found else "both"
        raise RequestError(422, f"the body has {what} of {', '.join(keys)}", "body", expected)
    key = found[0]
    sig = doc.get("signature_name", "serving_default")
    if sig != "serving_default":
        raise RequestError(422, f"no signature `{sig}`", "signature_name", '"serving_default"')
    items = doc[key]
    if key == "inputs" and isinstance(items, dict) and items:
        items = _rows_of(items)
    if not isinstance(items, list) or not items:
        raise RequestError(422, f"`{key}` is a JSON {_kind(items)}", key, "a non-empty list")
    if len(items) > limit:
        raise RequestError(
            413, f"{len(items):,} instances, over the limit of {limit:,} a request", key
        )
    return key, items


def _rows_of(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """TF Serving's columnar ``{"a": [a0, a1], "b": [b0, b1]}`` (a model of named inputs) as
    the instances ``[{"a": a0, "b": b0}, ...]``: every batch a list of the same length (an
    input missing or unknown is refused where the instances are read)."""
    expected = "an object of one list per input, all of one length"
    lengths = set()
    for name, values in columns.items():
        if not isinstance(values, list) or not values:
            raise RequestError(
                422, f"`{name}` is a JSON {_kind(values)}", f"inputs.{name}", expected
            )
        lengths.add(len(values))
    if len(lengths) != 1:
        raise RequestError(422, "the inputs' lists differ in length", "inputs", expected)
    n = lengths.pop()
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "empty list" if not value else "list"
    return {dict: "object", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def batch_of(instances: Sequence[Any], sig: Signature, key: str) -> dict[str, np.ndarray]:
    """One array per input, the instances stacked on a batch axis. An instance is the input's
    value (a model of one input) or an object naming every input (every column of a table:
    a string column's batch is an array of Python strings, shaped ``(n, 1)``)."""
    rows: dict[str, list[np.ndarray]] = {spec.name: [] for spec in sig.inputs}
    for i, instance in enumerate(instances):
        for spec, value, where in _values(instance, sig, f"{key}[{i}]"):
            rows[spec.name].append(value_array(value, spec, where))
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def _values(instance: Any, sig: Signature, where: str) -> list[tuple[InputSpec, Any, str]]:
    """The value of each input in one instance, with the field it was found at."""
    named = isinstance(instance, dict) and not _is_b64(instance)
    if not named and not sig.named:
        return [(sig.inputs[0], instance, where)]
    what = "column" if sig.table else "input"
    names = f"an object of the {what}s " + ", ".join(spec.name for spec in sig.inputs)
    if sig.table:
        names += " (null for a missing value)"
    if not isinstance(instance, dict):
        raise RequestError(422, f"a JSON {_kind(instance)}", where, names)
    unknown = sorted(set(instance) - {spec.name for spec in sig.inputs})
    if unknown:
        raise RequestError(
            422, f"the model has no {what} `{unknown[0]}`", f"{where}.{unknown[0]}", names
        )
    missing = [spec.name for spec in sig.inputs if spec.name not in instance]
    if missing:
        raise RequestError(422, f"{what} `{missing[0]}` is missing", f"{where}.{missing[0]}", names)
    return [(spec, instance[spec.name], f"{where}.{spec.name}") for spec in sig.inputs]


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def value_array(value: Any, spec: InputSpec, where: str) -> np.ndarray:
    """One input's value as an array of its shape: numbers in any nesting that holds exactly
    its values (28x28 for 28x28x1, or a flat list), or an image as ``{"b64": ...}``; a table
    column's raw value (:func:`column_value`)."""
    if spec.column:
        return column_value(value, spec, where)
    if _is_b64(value):
        return _b64_image(value["b64"], spec, where)
    if isinstance(value, (dict, str, bool)) or value is None:
        raise RequestError(422, f"a JSON {_kind(value)}", where, spec.expected())
    try:
        a = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise RequestError(
            422, "not a regular array (rows of different lengths)", where, spec.expected()
        ) from None
    if a.dtype.kind not in "iuf":
        what = "booleans" if a.dtype.kind == "b" else "values that are not all numbers"
        raise RequestError(422, f"holds {what}", where, spec.expected())
    if a.size != spec.size:
        shape = "x".join(str(d) for d in a.shape) or "a scalar"
        raise RequestError(
            422,
            f"an array of shape {shape} ({a.size:,} values); the input takes {spec.size:,}",
            where,
            spec.expected(),
        )
    return _typed(a, spec, where).reshape(spec.shape)


def column_value(value: Any, spec: InputSpec, where: str) -> np.ndarray:
    """A table column's raw value, shaped ``(1,)``, as ``netdsl predict`` reads a CSV cell:
    null or a missing spelling ("", "NA", ...) is missing (NaN for a number, "" for a string);
    a number column takes a JSON number, a string column a JSON string (passed as written: a
    value unseen in training is out of the vocabulary, not an error)."""
    from ...vocab.columns import is_missing

    missing = value is None or (isinstance(value, str) and is_missing(value))
    if spec.dtype == "string":
        if not (missing or isinstance(value, str)):
            raise RequestError(422, f"a JSON {_kind(value)}", where, spec.expected())
        return np.array(["" if missing else value], dtype=object)
    if missing:
        return np.array([np.nan], dtype=np.float32)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(422, f"a JSON {_kind(value)}", where, spec.expected())
    try:
        with np.errstate(over="ignore"):
            x = np.array([float(value)], dtype=np.float64).astype(np.float32)
    except OverflowError:  # an integer past float64's range
        x = np.array([np.inf], dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise RequestError(422, "a number too large for float32", where, spec.expected())
    return x


def _typed(a: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    if spec.dtype == "int32":
        if a.dtype.kind == "f":
            raise RequestError(422, "holds numbers that are not integers", where, spec.expected())
        low, high = int(a.min()), int(a.max())
        top = spec.vocabulary if spec.vocabulary is not None else 2**31
        if low < 0 or high >= top:
            bad = low if low < 0 else high
            raise RequestError(422, f"holds the id {bad}, out of range", where, spec.expected())
        return a.astype(np.int32)
    with np.errstate(over="ignore"):
        x = a.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise RequestError(422, "holds a number too large for float32", where, spec.expected())
    return x


def _b64_image(text: Any, spec: InputSpec, where: str) -> np.ndarray:
    if not spec.image:
        raise RequestError(
            422, "an image, but this input does not take one", where, spec.expected()
        )
    if not isinstance(text, str):
        raise RequestError(422, f"`b64` is a JSON {_kind(text)}", f"{where}.b64", "a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(422, f"not base64 ({exc})", f"{where}.b64", "a base64 string") from None
    return image_from_bytes(data, spec, f"{where}.b64")


def image_from_bytes(data: bytes, spec: InputSpec, where: str) -> np.ndarray:
    """A picture's bytes as ``spec``'s input, as ``netdsl predict`` reads an image file: the
    format one of :data:`IMAGE_FORMATS`, the pixel count checked before decoding."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise RequestError(
            501, "reading images needs Pillow: pip install 'netdsl[web]'", where
        ) from None
    expected = f"a {', '.join(IMAGE_FORMATS)} image"
    try:
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
            w, h = img.size
            if w * h > MAX_PIXELS or w * h == 0:
                raise RequestError(
                    422, f"the image declares {w:,}x{h:,} pixels (at most {MAX_PIXELS:,})", where
                )
            x, _ = image_array(img, spec.shape)
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombError,
        ValueError,
        SyntaxError,
        EOFError,
    ) as exc:
        raise RequestError(
            422, f"not a readable image ({type(exc).__name__}: {exc})", where, expected
        ) from None
    return x
