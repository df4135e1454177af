"""``netdsl export`` of graph programs: every format carries the named inputs and outputs, and
each output of the artefact, run by its own runtime, equals Keras's (issue 22's examples and a
hand-made graph of three inputs, a shared layer and two outputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from graph_programs import EXAMPLE_NAMES, source

import netdsl
from netdsl.errors import NetdslError
from netdsl.keras import export as export_module
from netdsl.keras.export import FORMATS, export_model, runtime_outputs
from netdsl.tools.cli import main

keras = pytest.importorskip("keras")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

PROGRAMS = (*EXAMPLE_NAMES, "tiny")


def _net(name: str, folder: Path) -> Any:
    text, filename = source(name, folder)
    return netdsl.build(netdsl.check(text, filename=filename), compile=False)


def _inputs(net: Any, rows: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {k: rng.random((rows, *v.shape[1:]), dtype=np.float32) for k, v in net.input.items()}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
@pytest.mark.parametrize("name", PROGRAMS, ids=PROGRAMS)
def test_every_output_of_a_graph_export_equals_keras(tmp_path: Path, name: str, fmt: str) -> None:
    net = _net(name, tmp_path)
    out = tmp_path / ("model" + (FORMATS[fmt].suffix or "_savedmodel"))
    x = _inputs(net)
    report = export_model(net, fmt, out, check_inputs=x)
    expected = net.predict(x, verbose=0)
    got = runtime_outputs(fmt, out, x)  # loaded again here, by the format's own runtime
    assert isinstance(got, dict) and sorted(got) == sorted(expected) == sorted(net.output)
    for key, want in expected.items():
        assert got[key].shape == want.shape
        assert float(np.max(np.abs(got[key] - want))) <= 1e-5
    assert report.inputs is not None and sorted(report.inputs) == sorted(net.input)
    assert report.output_diffs is not None and sorted(report.output_diffs) == sorted(net.output)
    assert all(d is not None and d <= 1e-5 for d in report.output_diffs.values())
    assert "inputs " in report.text() and "outputs " in report.text()


def test_a_wrong_output_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net("tiny", tmp_path)
    real = runtime_outputs

    def off_by_one(fmt: str, path: Any, x: Any) -> Any:
        got = real(fmt, path, x)
        return {**got, "score": got["score"] + 1.0}

    monkeypatch.setattr(export_module, "runtime_outputs", off_by_one)
    out = tmp_path / "sm"
    with pytest.raises(
        NetdslError, match=r"differs from Keras by up to 1 .* in the output `score`"
    ):
        export_model(net, "savedmodel", out)
    assert not out.exists()


@pytest.mark.parametrize(
    "got, expected, diffs",
    [
        ({"p": np.ones(2)}, {"p": np.ones(2)}, {"p": 0.0}),
        ({"p": np.ones(2)}, {"p": np.ones(2), "q": np.ones(1)}, {"p": 0.0, "q": float("inf")}),
        ({"p": np.ones(3)}, {"p": np.ones(2)}, {"p": float("inf")}),
        (np.zeros(2), np.ones(2), {"": 1.0}),
    ],
    ids=["equal", "missing-output", "other-shape", "one-array"],
)
def test_differences_are_per_output(got: Any, expected: Any, diffs: dict[str, float]) -> None:
    assert export_module._differences(got, expected) == diffs


@pytest.mark.slow
def test_cli_exports_a_graph_run_with_its_names(tmp_path: Path) -> None:
    net = _net("siamese", tmp_path)
    net.save(tmp_path / "siamese.keras")
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "siamese.keras"), "--format", "onnx", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["inputs"] == {"a": [None, 28, 28, 1], "b": [None, 28, 28, 1]}
    assert list(data["outputs"]) == ["same"] and data["outputs"]["same"] <= 1e-5
