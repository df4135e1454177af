"""Data with named inputs and targets: ``npz`` arrays ``x_<name>`` / ``y_<name>`` and the
``mnist(task=...)`` tasks, described without loading, loaded as dicts by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netdsl
from netdsl.errors import NetdslError
from netdsl.vocab.components import DataRequest
from netdsl.vocab.registry import default_registry


def _npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return str(path)


def _describe(path: str) -> object:
    npz = default_registry().get("dataset", "npz")
    request = DataRequest("npz", {"task": "auto", "test_split": 0.25, "seed": 1}, path)
    return npz.describe(request), npz, request


def test_npz_named_arrays_are_inputs_and_targets(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = _npz(
        tmp_path / "d.npz",
        x_a=rng.integers(0, 255, (8, 5, 5), dtype=np.uint8),
        x_b=rng.random((8, 3)).astype("float32"),
        y_kind=rng.integers(0, 3, 8),
        y_flag=np.array([0, 1] * 4),
    )
    info, npz, request = _describe(path)
    assert [(i.name, i.shape) for i in info.named_inputs] == [("a", (5, 5, 1)), ("b", (3,))]
    assert [(t.name, t.target.kind) for t in info.named_targets] == [
        ("kind", "classes"),
        ("flag", "binary"),
    ]
    assert (info.train_size, info.test_size) == (6, 2)
    x_train, _y_train, _x_test, y_test = npz.load(request, info)
    assert sorted(x_train) == ["a", "b"] and x_train["a"].shape == (6, 5, 5, 1)
    assert x_train["a"].max() <= 1.0 and sorted(y_test) == ["flag", "kind"]


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        pytest.param({"x_a": np.zeros((4, 2)), "x_b": np.zeros((4, 2))}, "y_<name>", id="no-y"),
        pytest.param(
            {"x_a_train": np.zeros((4, 2)), "y_c": np.zeros(4)}, "not a mix", id="mixed-split"
        ),
        pytest.param({"x_a": np.zeros((4, 2)), "y_c": np.zeros(5)}, "different numbers", id="rows"),
    ],
)
def test_npz_named_arrays_refused_clearly(
    tmp_path: Path, arrays: dict[str, np.ndarray], words: str
) -> None:
    path = _npz(tmp_path / "d.npz", **arrays)
    with pytest.raises(NetdslError, match=words):
        _describe(path)


def test_plain_npz_keeps_its_meaning(tmp_path: Path) -> None:
    path = _npz(
        tmp_path / "d.npz",
        x_train=np.zeros((6, 3)),
        y_train=np.arange(6) % 2,
        x_test=np.zeros((2, 3)),
        y_test=np.array([0, 1]),
    )
    info, _, _ = _describe(path)
    assert not info.is_named and info.input_shape == (3,) and info.target.kind == "binary"


def test_a_graph_on_named_npz_checks_with_its_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = _npz(
        tmp_path / "d.npz",
        x_img=rng.random((8, 4, 4, 1)).astype("float32"),
        x_tab=rng.random((8, 3)).astype("float32"),
        y=np.array([0, 1] * 4),
    )
    src = (
        f'dataset: npz("{path}")\n'
        "i = img -> flatten -> dense 4 relu\nt = tab -> dense 4 relu\n"
        "[i | t] concat -> dense 1 sigmoid\n"
    )
    model = netdsl.check(src)
    assert [i.name for i in model.inputs] == ["img", "tab"] and model.outputs[0].name == "y"


@pytest.mark.parametrize(
    ("task", "inputs", "targets"),
    [
        pytest.param("pairs", ["a", "b"], ["same"], id="pairs"),
        pytest.param("parity", ["x"], ["digit", "odd"], id="parity"),
        pytest.param("denoise", ["x"], ["y"], id="denoise"),
    ],
)
def test_mnist_tasks_describe_their_names(task: str, inputs: list[str], targets: list[str]) -> None:
    mnist = default_registry().get("dataset", "mnist")
    info = mnist.describe(DataRequest("mnist", {"task": task}, None))
    assert [i.name for i in info.named_inputs] == inputs
    assert [t.name for t in info.named_targets] == targets


def test_mnist_pairs_are_half_same_and_reproducible() -> None:
    from netdsl_builtins.mnist_tasks import task_arrays

    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28, 1)).astype("float32")
    y = np.arange(40) % 10
    arrays = (x, y, x[:20], y[:20])
    first = task_arrays("pairs", arrays, 30, 10, 0.4, 3)
    again = task_arrays("pairs", arrays, 30, 10, 0.4, 3)
    assert np.array_equal(first[0]["b"], again[0]["b"])
    same = first[1]["same"]
    assert same.sum() == 15
    a, b = first[0]["a"], first[0]["b"]
    digits_a = [int(np.flatnonzero((x == a[i]).all(axis=(1, 2, 3)))[0]) % 10 for i in range(30)]
    digits_b = [int(np.flatnonzero((x == b[i]).all(axis=(1, 2, 3)))[0]) % 10 for i in range(30)]
    assert [int(s) for s in same] == [int(p == q) for p, q in zip(digits_a, digits_b)]


def test_a_run_folders_record_keeps_the_named_inputs_and_targets(tmp_path: Path) -> None:
    """data.json's `info` carries a graph's inputs and targets, so predict, export and emit
    check the run folder's model.net without the data (check_run)."""
    import json

    from netdsl.checking.recorded import check_run, recorded_info

    src = (
        "dataset: mnist(task=parity)\ntrunk = flatten -> dense 8 relu\n"
        "output digit = trunk -> dense 10 softmax\noutput odd = trunk -> dense 1 sigmoid\n"
    )
    model = netdsl.check(src)
    (tmp_path / "model.net").write_text(src)
    (tmp_path / "data.json").write_text(json.dumps({"info": model.data.to_json()}))
    info = recorded_info(tmp_path)
    assert info is not None and info.is_named
    assert (info.inputs, info.targets) == (model.data.inputs, model.data.targets)
    again = check_run(tmp_path)
    assert [o.name for o in again.outputs] == ["digit", "odd"] and again.is_graph
    from netdsl.keras.predict import load_predictor

    # the record checks; the folder is still no finished run (tests/test_graph_predict.py
    # predicts with real graph runs)
    with pytest.raises(NetdslError, match="has no model.keras"):
        load_predictor(tmp_path)
