"""``netdsl export``: each artefact loaded by its own runtime reproduces the Keras model.

The seed MLP, the CNN, the LSTM and the residual network of examples/ are trained for a few
steps on small learnable digits made here, exported as a SavedModel, an ONNX file and a LiteRT
file, loaded by ``tf.saved_model.load``, ``onnxruntime`` and the LiteRT interpreter, and run on
held-out inputs: every output must equal Keras's within 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import netdsl
from netdsl.errors import NetdslError
from netdsl.keras.export import FORMATS, default_output, export_model, runtime_outputs
from netdsl.tools.cli import main
from netdsl.vocab.registry import load_registry

keras = pytest.importorskip("keras")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[1]
REG = load_registry(third_party=False)

#: the four networks of the issue: the seed MLP and three examples
MODELS = {
    "mlp": "dense 64 relu l2 -> dense 10 softmax",
    "cnn": (ROOT / "examples/cnn.net").read_text(),
    "lstm": (ROOT / "examples/lstm.net").read_text(),
    "residual": (ROOT / "examples/residual.net").read_text(),
}


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images a small network learns: class k lights a 4x4 patch at a place of its own."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 28, 28, 1), dtype=np.float32) * 0.15
    for i, k in enumerate(y):
        r, c = 2 + (k // 5) * 12, 2 + (k % 5) * 5
        x[i, r : r + 4, c : c + 4, 0] = 1.0
    return x, np.eye(10, dtype=np.float32)[y]


_TRAINED: dict[str, Any] = {}


def trained(name: str) -> Any:
    """The example network, trained for 4 steps of 32 (once per test session)."""
    if name not in _TRAINED:
        net = netdsl.build(netdsl.check(MODELS[name], REG))
        x, y = _digits(128, seed=1)
        net.fit(x, y, epochs=1, batch_size=32, verbose=0)
        _TRAINED[name] = net
    return _TRAINED[name]


TEST_X = _digits(16, seed=2)[0]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(FORMATS), ids=list(FORMATS))
@pytest.mark.parametrize("name", list(MODELS), ids=list(MODELS))
def test_exported_artefact_equals_keras_in_its_own_runtime(
    tmp_path: Path, name: str, fmt: str
) -> None:
    net = trained(name)
    out = tmp_path / ("model" + (FORMATS[fmt].suffix or "_savedmodel"))
    report = export_model(net, fmt, out, check_inputs=TEST_X)
    assert out.exists() and report.path == out
    expected = net.predict(TEST_X, verbose=0)
    got = runtime_outputs(fmt, out, TEST_X)  # loaded again here, by the format's own runtime
    assert got is not None and got.shape == expected.shape
    assert float(np.max(np.abs(got - expected))) <= 1e-5
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    # the predictions are the trained model's, not a constant: inputs of different classes differ
    assert len({int(i) for i in got.argmax(axis=1)}) > 1 or name == "lstm"


@pytest.mark.slow
def test_lstm_litert_has_a_fixed_batch_and_says_so(tmp_path: Path) -> None:
    report = export_model(trained("lstm"), "litert", tmp_path / "m.tflite", check_inputs=TEST_X)
    assert report.input_shape[0] == 1 and "fixed batch size 1" in report.note


def _odd_model() -> Any:
    """A model with a layer (inverse error function) that neither ONNX nor LiteRT can run."""

    class Erfinv(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return keras.ops.erfinv(x * 0.5)

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(Erfinv(name="odd_one")(inputs)))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_a_format_that_cannot_take_a_layer_names_it(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / ("m" + FORMATS[fmt].suffix)
    with pytest.raises(NetdslError) as info:
        export_model(_odd_model(), fmt, out)
    assert f"{fmt} cannot take layer `odd_one` (Erfinv)" in info.value.message
    assert "Erfinv is not supported" in info.value.message
    assert not out.exists() and list(tmp_path.iterdir()) == [], "nothing half-written is left"


def test_savedmodel_takes_the_same_odd_layer(tmp_path: Path) -> None:
    report = export_model(_odd_model(), "savedmodel", tmp_path / "sm")
    assert report.max_abs_diff == 0.0


@pytest.mark.parametrize(
    "path, message",
    [
        ("exists.onnx", "already exists"),
        ("model.tflite", "must end in .onnx"),
    ],
    ids=["never-overwrites", "wrong-suffix"],
)
def test_export_refuses_bad_output_paths(tmp_path: Path, path: str, message: str) -> None:
    (tmp_path / "exists.onnx").write_text("mine")
    inputs = keras.Input((2,))
    net = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    with pytest.raises(NetdslError, match=message):
        export_model(net, "onnx", tmp_path / path)
    assert (tmp_path / "exists.onnx").read_text() == "mine"


def test_default_output_sits_beside_the_model(tmp_path: Path) -> None:
    assert default_output(tmp_path / "run", "onnx") == tmp_path / "run/model.onnx"
    assert default_output(tmp_path / "run", "savedmodel") == tmp_path / "run/model_savedmodel"
    assert default_output(tmp_path / "net.keras", "litert") == tmp_path / "net.tflite"


@pytest.mark.slow
def test_cli_exports_a_run_folder_and_a_keras_file(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    trained("mlp").save(folder / "model.keras")
    result = CliRunner().invoke(main, ["export", str(folder), "--format", "onnx", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["path"] == str(folder / "model.onnx") and data["max_abs_diff"] <= 1e-5
    again = CliRunner().invoke(
        main,
        [
            "export",
            str(folder / "model.keras"),
            "--format",
            "litert",
            "-o",
            str(tmp_path / "out/seed.tflite"),
        ],
    )
    assert again.exit_code == 0, again.output
    assert "exported litert to" in again.output and (tmp_path / "out/seed.tflite").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere/", "--format", "onnx"], "no such file or folder"),
        (["{tmp}", "--format", "onnx"], "has no model.keras"),
        (["{tmp}", "--format", "tflite"], "Invalid value for '--format'"),
    ],
    ids=["missing", "not-a-run", "unknown-format"],
)
def test_cli_export_errors_are_clear(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["export", *[a.format(tmp=tmp_path) for a in args]])
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
