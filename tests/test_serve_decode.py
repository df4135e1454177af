"""``netdsl serve``'s request decoding and batching, without a server or TensorFlow: every bad
value refused with its field and what was expected; concurrent requests sharing model calls."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import numpy as np
import pytest

from netdsl.tools.serve.batcher import Batcher
from netdsl.tools.serve.decode import (
    MAX_PIXELS,
    RequestError,
    batch_of,
    image_from_bytes,
    instances_of,
    parse_json,
)
from netdsl.tools.serve.signature import InputSpec, Signature, model_name

Image = pytest.importorskip("PIL.Image")

PIXELS = InputSpec("x", (4, 4, 1))
IDS = InputSpec("x", (3,), "int32", vocabulary=10)
ROW = InputSpec("x", (3,))


def _sig(spec: InputSpec) -> Signature:
    return Signature("m", (spec,), ())


def _png(width: int = 6, height: int = 5, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height), (200,) * len(mode)).save(buf, format="PNG")
    return buf.getvalue()


def _refused(spec: InputSpec, instances: list[Any]) -> RequestError:
    with pytest.raises(RequestError) as info:
        batch_of(instances, _sig(spec), "instances")
    return info.value


@pytest.mark.parametrize(
    "spec, instances, field, message",
    [
        (ROW, [[1, 2]], "instances[0]", "shape 2 (2 values); the input takes 3"),
        (ROW, [[1, 2, 3], [1, 2, 3, 4]], "instances[1]", "shape 4 (4 values)"),
        (ROW, [[[1, 2], [3]]], "instances[0]", "not a regular array"),
        (ROW, [[1, "2", 3]], "instances[0]", "not all numbers"),
        (ROW, [[1, None, 3]], "instances[0]", "not all numbers"),
        (ROW, [[True, False, True]], "instances[0]", "booleans"),
        (ROW, [[1, 2, 1e39]], "instances[0]", "too large for float32"),
        (ROW, [[1, 2, 10**40]], "instances[0]", "not all numbers"),
        (ROW, ["abc"], "instances[0]", "a JSON string"),
        (ROW, [None], "instances[0]", "a JSON null"),
        (ROW, [{"y": [1, 2, 3]}], "instances[0].y", "no input `y`"),
        (ROW, [{"b64": "aGk="}], "instances[0]", "does not take"),
        (IDS, [[1, 2, 10]], "instances[0]", "the id 10, out of range"),
        (IDS, [[1, -1, 2]], "instances[0]", "the id -1"),
        (IDS, [[1.5, 2, 3]], "instances[0]", "not integers"),
        (PIXELS, [{"b64": "%%%"}], "instances[0].b64", "not base64"),
        (
            PIXELS,
            [{"b64": base64.b64encode(b"not an image").decode()}],
            "instances[0].b64",
            "not a readable image",
        ),
        (PIXELS, [{"b64": 7}], "instances[0].b64", "a JSON number"),
    ],
    ids=[
        "short",
        "second-long",
        "ragged",
        "string-number",
        "null-number",
        "booleans",
        "float32-overflow",
        "huge-int",
        "string",
        "null",
        "unknown-input",
        "image-to-numbers",
        "id-past-vocabulary",
        "negative-id",
        "float-id",
        "bad-base64",
        "not-an-image",
        "b64-not-string",
    ],
)
def test_a_bad_value_names_its_field(
    spec: InputSpec, instances: list[Any], field: str, message: str
) -> None:
    err = _refused(spec, instances)
    assert err.status == 422
    assert err.field == field
    assert message in err.message
    expected = err.to_json()["expected"]
    # a value's own error says what the input takes; a part of it (`.b64`, `.name`) its own
    assert expected == spec.expected() if field.endswith("]") else expected


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"", 400, "no body"),
        (b"{not json", 400, "not valid JSON"),
        (b'{"instances": [[1, NaN, 2]]}', 422, "`NaN` is not a number"),
        (b'{"instances": [[1, -Infinity, 2]]}', 422, "`-Infinity` is not a number"),
        (b"\xff\xfe{}", 400, "not valid JSON"),
        (b"[" * 100_000, 400, "nested too deeply"),
    ],
    ids=["empty", "invalid", "nan", "infinity", "not-utf8", "deep"],
)
def test_a_bad_body_is_refused(body: bytes, status: int, message: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_json(body)
    assert (info.value.status, info.value.field) == (status, "body")
    assert message in info.value.message


@pytest.mark.parametrize(
    "doc, status, field, message",
    [
        ([1, 2], 422, "body", "a JSON list"),
        ({}, 422, "body", "neither of instances"),
        ({"instances": [1], "extra": 1}, 422, "extra", "unknown field `extra`"),
        ({"instances": []}, 422, "instances", "empty list"),
        ({"instances": "x"}, 422, "instances", "a JSON string"),
        ({"instances": [[0]] * 5}, 413, "instances", "5 instances, over the limit of 4"),
        ({"instances": [1], "signature_name": "other"}, 422, "signature_name", "no signature"),
    ],
    ids=["not-object", "no-instances", "extra-field", "empty", "not-list", "too-many", "signature"],
)
def test_a_bad_document_is_refused(doc: Any, status: int, field: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        instances_of(doc, ("instances",), limit=4)
    assert (info.value.status, info.value.field) == (status, field)
    assert message in info.value.message


def test_values_in_any_layout_holding_them_are_one_input() -> None:
    rows = [list(range(16)), [[float(i)] * 4 for i in range(4)], {"x": np.ones((4, 4, 1)).tolist()}]
    batch = batch_of(rows, _sig(PIXELS), "instances")
    assert batch["x"].shape == (3, 4, 4, 1) and batch["x"].dtype == np.float32
    assert batch["x"][0].ravel().tolist() == list(range(16))
    ids = batch_of([[1, 2, 9]], _sig(IDS), "instances")["x"]
    assert ids.dtype == np.int32 and ids.tolist() == [[1, 2, 9]]


def test_an_image_is_read_as_predict_reads_it() -> None:
    x = batch_of([{"b64": base64.b64encode(_png(mode="RGB")).decode()}], _sig(PIXELS), "i")["x"]
    assert x.shape == (1, 4, 4, 1)
    np.testing.assert_allclose(x, 200 / 255, rtol=1e-6)  # grey, resized, scaled to [0, 1]


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 1
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")  # a few kB, many pixels
    with pytest.raises(RequestError, match="pixels") as info:
        image_from_bytes(buf.getvalue(), PIXELS, "x[0]")
    assert info.value.status == 422


def test_an_eps_file_is_not_opened() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 4 4\nshowpage\n"
    with pytest.raises(RequestError, match="not a readable image"):
        image_from_bytes(eps, PIXELS, "x[0]")


@pytest.mark.parametrize(
    "folder, name",
    [("runs/mnist-20261130-061200", "mnist"), ("runs/a-b-20261130-061200-2", "a-b"), ("x", "x")],
    ids=["dated", "numbered", "plain"],
)
def test_the_model_is_named_after_its_run(folder: str, name: str) -> None:
    assert model_name(folder) == name


# --- batching -------------------------------------------------------------------------------


def _counting_model(calls: list[int]) -> Any:
    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        x = inputs["x"]
        calls.append(x.shape[0])
        return x.sum(axis=1, keepdims=True)

    return run


async def _submit_all(batcher: Batcher, rows: list[int]) -> list[Any]:
    batcher.start()
    jobs = [batcher.submit({"x": np.full((n, 2), float(i))}) for i, n in enumerate(rows)]
    results = await asyncio.gather(*jobs)
    await batcher.close()
    return results


def test_concurrent_requests_share_one_model_call() -> None:
    calls: list[int] = []
    results = asyncio.run(_submit_all(Batcher(_counting_model(calls), 64, 0.05), [1] * 10))
    assert calls == [10]
    assert [float(r[0][0]) for r in results] == [2.0 * i for i in range(10)]


def test_a_batch_holds_at_most_max_batch_and_a_large_request_runs_alone() -> None:
    calls: list[int] = []
    results = asyncio.run(_submit_all(Batcher(_counting_model(calls), 4, 0.05), [1, 2, 2, 9, 1]))
    assert calls == [3, 2, 9, 1]
    assert [len(r) for r in results] == [1, 2, 2, 9, 1]


def test_a_failing_model_call_fails_each_of_its_requests_and_not_the_batcher() -> None:
    def run(inputs: dict[str, np.ndarray]) -> np.ndarray:
        if inputs["x"][0, 0] < 0:
            raise FloatingPointError("bad batch")
        return inputs["x"]

    async def go() -> list[Any]:
        batcher = Batcher(run, 64, 0.0)
        batcher.start()
        bad = await asyncio.gather(batcher.submit({"x": -np.ones((1, 1))}), return_exceptions=True)
        good = await batcher.submit({"x": np.ones((1, 1))})
        await batcher.close()
        return [*bad, good]

    bad, good = asyncio.run(go())
    assert isinstance(bad, FloatingPointError)
    assert good[0].tolist() == [1.0]


def test_close_answers_every_queued_request_first() -> None:
    calls: list[int] = []

    async def go() -> list[Any]:
        batcher = Batcher(_counting_model(calls), 2, 0.0)
        batcher.start()
        jobs = [asyncio.ensure_future(batcher.submit({"x": np.ones((1, 2))})) for _ in range(5)]
        await asyncio.sleep(0)
        await batcher.close()
        return await asyncio.gather(*jobs)

    assert len(asyncio.run(go())) == 5
    assert sum(calls) == 5


def test_stats_count_calls_requests_and_instances() -> None:
    batcher = Batcher(_counting_model([]), 64, 0.05)
    asyncio.run(_submit_all(batcher, [1, 2, 3]))
    assert json.loads(json.dumps(batcher.stats.to_json()))["model_calls"] == 1
    assert batcher.stats.to_json()["instances"] == 6


@pytest.mark.parametrize(
    "program, output",
    [
        (
            "dataset: synthetic(regression, outputs=2)\ninput: 4\ndense 2",
            {"name": "y", "kind": "regression", "shape": [2], "from_logits": False},
        ),
        (
            "dataset: synthetic(binary)\ninput: 4\ndense 1 sigmoid",
            {
                "name": "y",
                "kind": "binary",
                "shape": [1],
                "classes": ["no", "yes"],
                "from_logits": False,
            },
        ),
        (
            "dataset: synthetic(classes=3)\ninput: 2x2\nflatten -> dense 3 softmax",
            {
                "name": "y",
                "kind": "classes",
                "shape": [3],
                "classes": ["no", "yes", "2"],
                "from_logits": False,
            },
        ),
    ],
    ids=["regression", "binary", "classes-unnamed-third"],
)
def test_the_signature_comes_from_the_plan(
    registry: Any, program: str, output: dict[str, Any]
) -> None:
    import netdsl
    from netdsl.tools.serve.signature import signature_of

    sig = signature_of(netdsl.check(program, registry), ["no", "yes"], "m").to_json()
    assert sig["outputs"] == [output]
    assert [i["name"] for i in sig["inputs"]] == ["x"]
