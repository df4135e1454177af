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
from graph_programs import TINY_INPUTS, write_tiny

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


# --- graphs' named inputs and typed tables' raw columns (issue 26 for issues 22 and 23) --------

A = InputSpec("a", (3,))
B = InputSpec("b", (2,))
GRAPH = Signature("m", (A, B), (), graph=True)
SIZE = InputSpec("size", (1,), "float32", column="number")
ARCH = InputSpec("arch", (1,), "string", column="category")
TEXT = InputSpec("description", (1,), "string", column="text")
TABLE = Signature("m", (SIZE, ARCH, TEXT), ())


def _refused_by(sig: Signature, instances: list[Any]) -> RequestError:
    with pytest.raises(RequestError) as info:
        batch_of(instances, sig, "instances")
    return info.value


def test_a_graphs_instance_names_each_input() -> None:
    batch = batch_of([{"a": [1, 2, 3], "b": [4, 5]}, {"b": [[6], [7]], "a": [0, 0, 0]}], GRAPH, "i")
    assert batch["a"].shape == (2, 3) and batch["b"].tolist() == [[4, 5], [6, 7]]


@pytest.mark.parametrize(
    "instance, field, message, expected",
    [
        ({"a": [1, 2, 3]}, "instances[0].b", "input `b` is missing", "inputs a, b"),
        ({"a": [1, 2, 3], "b": [1, 2], "c": [1]}, "instances[0].c", "no input `c`", "inputs a, b"),
        ([1, 2, 3], "instances[0]", "a JSON list", "inputs a, b"),
        ({"a": [1, 2, 3], "b": [1, 2, 3]}, "instances[0].b", "the input takes 2", "2 finite"),
        ({"a": [1, 2, 3], "b": ["x", 2]}, "instances[0].b", "not all numbers", "2 finite"),
    ],
    ids=["missing", "unknown", "not-an-object", "bad-shape", "not-numbers"],
)
def test_a_bad_graph_instance_names_the_input(
    instance: Any, field: str, message: str, expected: str
) -> None:
    err = _refused_by(GRAPH, [instance])
    assert (err.status, err.field) == (422, field) and message in err.message
    assert expected in (err.expected or "")


def test_tf_servings_columnar_inputs_become_instances() -> None:
    doc = {"inputs": {"a": [[1, 2, 3], [4, 5, 6]], "b": [[1, 2], [3, 4]]}}
    key, items = instances_of(doc, ("instances", "inputs"), 8)
    assert key == "inputs" and items[1] == {"a": [4, 5, 6], "b": [3, 4]}
    assert batch_of(items, GRAPH, key)["b"].tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "inputs, field, message",
    [
        ({"a": [[1, 2, 3]], "b": [[1, 2], [3, 4]]}, "inputs", "differ in length"),
        ({"a": [[1, 2, 3]], "b": []}, "inputs.b", "empty list"),
        ({"a": [[1, 2, 3]], "b": 3}, "inputs.b", "a JSON number"),
    ],
    ids=["lengths", "empty", "not-a-list"],
)
def test_bad_columnar_inputs_are_refused(inputs: Any, field: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        instances_of({"inputs": inputs}, ("instances", "inputs"), 8)
    assert (info.value.status, info.value.field) == (422, field)
    assert message in info.value.message


def test_a_columnar_batch_past_the_limit_is_refused() -> None:
    with pytest.raises(RequestError) as info:
        instances_of({"inputs": {"a": [[1, 2, 3]] * 9, "b": [[1, 2]] * 9}}, ("inputs",), 8)
    assert info.value.status == 413


def test_a_tables_instance_is_raw_column_values_with_missing_ones() -> None:
    rows = [
        {"size": 12.5, "arch": "amd64", "description": "a tool for graphs"},
        {"size": None, "arch": None, "description": ""},
        {"size": "NA", "arch": "never-seen", "description": "NA"},
        {"size": 3, "arch": "", "description": None},
    ]
    batch = batch_of(rows, TABLE, "instances")
    assert batch["size"].dtype == np.float32 and batch["size"].shape == (4, 1)
    np.testing.assert_array_equal(batch["size"].ravel(), [12.5, np.nan, np.nan, 3.0])
    assert batch["arch"].ravel().tolist() == ["amd64", "", "never-seen", ""]
    assert batch["description"].ravel().tolist() == ["a tool for graphs", "", "", ""]


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"size": "big"}, "instances[0].size", "a JSON string"),
        ({"size": True}, "instances[0].size", "a JSON boolean"),
        ({"size": [1]}, "instances[0].size", "a JSON list"),
        ({"size": 1e39}, "instances[0].size", "too large for float32"),
        ({"size": 10**400}, "instances[0].size", "too large for float32"),
        ({"arch": 3}, "instances[0].arch", "a JSON number"),
        ({"arch": ["amd64"]}, "instances[0].arch", "a JSON list"),
        ({"colour": "red"}, "instances[0].colour", "no column `colour`"),
        ({"description": ...}, "instances[0].description", "column `description` is missing"),
    ],
    ids=[
        "string-number",
        "bool-number",
        "list-number",
        "huge",
        "huge-int",
        "number-category",
        "list-category",
        "unknown",
        "missing",
    ],
)
def test_a_bad_table_value_names_its_column(
    change: dict[str, Any], field: str, message: str
) -> None:
    row: dict[str, Any] = {"size": 1.0, "arch": "all", "description": "fast tool"}
    row.update(change)
    row = {k: v for k, v in row.items() if v is not ...}
    err = _refused_by(TABLE, [row])
    assert (err.status, err.field) == (422, field) and message in err.message
    assert err.expected


def test_a_tables_instance_must_be_an_object_even_of_one_column() -> None:
    err = _refused_by(Signature("m", (SIZE,), ()), [3.0])
    assert (err.field, err.message) == ("instances[0]", "a JSON number")
    assert "null for a missing value" in (err.expected or "")


def test_the_signature_of_a_graph_names_every_input_and_output(
    registry: Any, tmp_path: Any
) -> None:
    import netdsl
    from netdsl.tools.serve.signature import signature_of

    program = write_tiny(tmp_path)
    sig = signature_of(netdsl.check(program.read_text(), registry), [], "m")
    about = sig.to_json()
    assert sig.graph and sig.named and not sig.table
    assert [(i["name"], i["shape"]) for i in about["inputs"]] == [
        (k, list(s)) for k, s in TINY_INPUTS.items()
    ]
    assert "image" in about["inputs"][0] and "image" not in about["inputs"][1]
    assert [(o["name"], o["kind"], o.get("classes")) for o in about["outputs"]] == [
        ("cls", "classes", ["0", "1", "2"]),
        ("score", "regression", None),
    ]


def test_the_signature_of_a_typed_table_lists_its_columns(registry: Any, tmp_path: Any) -> None:
    import netdsl
    from netdsl.tools.serve.signature import signature_of

    path = tmp_path / "t.csv"
    rows = [
        f"{i % 7 or ''},{'abc'[i % 3]}x,fast small tool number {i},{'ab'[i % 2]}" for i in range(40)
    ]
    path.write_text("size,arch,description,y\n" + "\n".join(rows) + "\n")
    plan = netdsl.check(f'dataset: csv("{path.as_posix()}", label="y")\ndense 2 softmax', registry)
    about = signature_of(plan, ["a", "b"], "m").to_json()
    assert [(i["name"], i["type"], i["dtype"]) for i in about["inputs"]] == [
        ("size", "number", "float32"),
        ("arch", "category", "string"),
        ("description", "text", "string"),
    ]
    assert "null when missing" in about["inputs"][0]["accepts"]
    assert about["outputs"][0]["classes"] == ["a", "b"]


def test_a_graph_over_a_typed_table_takes_its_raw_columns(registry: Any, tmp_path: Any) -> None:
    """Its program's inputs are ``x`` and a routed column, but the saved model takes each raw
    column (the encoders are inside it), so the request does too; the outputs are by name."""
    import netdsl
    from netdsl.tools.serve.signature import signature_of

    path = tmp_path / "t.csv"
    rows = [f"{i % 7},{'abc'[i % 3]}x,fast small tool {i},{'ab'[i % 2]},0.{i}" for i in range(40)]
    path.write_text("size,arch,description,y,score\n" + "\n".join(rows) + "\n")
    program = (
        f'dataset: csv("{path.as_posix()}", label=["y", "score"], types={{description: text}})\n'
        "d = description -> embedding 10000 8 -> lstm 8\n"
        "output y = [x | d] concat -> dense 2 softmax\noutput score = x -> dense 1\n"
    )
    plan = netdsl.check(program, registry)
    assert [i.name for i in plan.inputs] == ["x", "description"]
    sig = signature_of(plan, [], "m")
    assert sig.graph and sig.table
    assert [(i.name, i.column) for i in sig.inputs] == [
        ("size", "number"),
        ("arch", "category"),
        ("description", "text"),
    ]
    assert [o.name for o in sig.outputs] == ["y", "score"]
