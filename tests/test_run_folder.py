"""A run folder that stands alone (issue 21): the label encoding in one format that ``predict``
reads (and the older forms), the program written so its string arguments parse back, the
dataset's description recorded and used instead of the data, ``normalize: true`` counted by
``summary`` and written by ``emit``, schedules that load in a fresh process, exports of a
normalized model, and the shipped programs in ``fmt``'s canonical form.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import builtin_registry

import netdsl
from netdsl.checking.recorded import LABELS_FORMAT, check_run, read_labels, recorded_info
from netdsl.errors import NetdslError
from netdsl.keras.emit import emit_program
from netdsl.tools.cli import main
from netdsl.tools.summary import summary_text

ROOT = Path(__file__).resolve().parents[1]

#: a tiny normalized table: 12 features, so the Normalization layer has 2 x 12 + 1 weights
NORMALIZED = """\
dataset: synthetic(task=regression, train_size=32, test_size=8)
input: 12
normalize: true
epochs: 1

dense 8 relu -> dense 1
"""


# --- labels.json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            {"format": LABELS_FORMAT, "classes": ["cat", "dog"], "encoding": "sparse"},
            ["cat", "dog"],
        ),
        (["cat", "dog"], ["cat", "dog"]),
        ({"0": "cat", "1": "dog"}, ["cat", "dog"]),
        ({"setosa": 0, "versicolor": 1, "virginica": 2}, ["setosa", "versicolor", "virginica"]),
        ({"b": 1, "a": 0}, ["a", "b"]),
    ],
    ids=["current", "list", "id-to-name", "name-to-id-before-0.2", "name-to-id-unordered"],
)
def test_labels_json_forms_are_read(tmp_path: Path, content: Any, expected: list[str]) -> None:
    (tmp_path / "labels.json").write_text(json.dumps(content))
    assert read_labels(tmp_path) == expected


@pytest.mark.parametrize(
    "content", ['{"a": "b"}', "3", "not json"], ids=["names", "number", "garbage"]
)
def test_labels_json_that_is_not_a_mapping_is_an_error(tmp_path: Path, content: str) -> None:
    (tmp_path / "labels.json").write_text(content)
    with pytest.raises(NetdslError) as info:
        read_labels(tmp_path)
    assert info.value.code == "NDL311" and "labels.json" in info.value.message


# --- the program as written into the run folder --------------------------------------------------


def test_string_arguments_stay_quoted_in_the_written_program(tmp_path: Path) -> None:
    from netdsl.keras.training import spec_text

    table = tmp_path / "t.csv"
    table.write_text("a,b,species\n" + "".join(f"{i},{i % 3},{'xy'[i % 2]}\n" for i in range(20)))
    model = netdsl.check(
        f'dataset: csv("{table}", label="species")\n\ndense 2 softmax', builtin_registry()
    )
    text = spec_text(model)
    assert 'label="species"' in text and "task=auto" not in text
    again = netdsl.check(text, builtin_registry())  # parses and checks back to the same plan
    assert again.settings == model.settings


# --- the recorded description stands in for the data ----------------------------------------------


def _fake_run(tmp_path: Path, program: str, info: dict[str, Any]) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "model.net").write_text(program)
    (folder / "data.json").write_text(json.dumps({"info": info}))
    return folder


def test_check_run_uses_the_record_not_the_data(tmp_path: Path) -> None:
    info = {
        "input_shape": [8, 8, 3],
        "target": {"kind": "classes", "num_classes": 2, "shape": []},
        "train_size": None,
        "class_names": ["cats", "dogs"],
        "vocabulary": None,
    }
    folder = _fake_run(
        tmp_path, "dataset: images\ninput: 8x8x3\n\nflatten -> dense 2 softmax\n", info
    )
    with pytest.raises(NetdslError, match="needs a folder"):  # the data itself is nowhere
        netdsl.check((folder / "model.net").read_text(), builtin_registry())
    model = check_run(folder, builtin_registry())
    assert model.data.class_names == ("cats", "dogs") and model.input_shape == (8, 8, 3)
    assert recorded_info(folder) is not None


def test_check_run_of_a_moved_csv(tmp_path: Path) -> None:
    info = {
        "input_shape": [2],
        "target": {"kind": "classes", "num_classes": 3, "shape": []},
        "train_size": 10,
        "class_names": ["a", "b", "c"],
        "vocabulary": None,
    }
    folder = _fake_run(
        tmp_path, 'dataset: csv("gone/wine.csv", label="kind")\n\ndense 3 softmax\n', info
    )
    assert check_run(folder, builtin_registry()).data.target.num_classes == 3


def test_emit_from_a_run_folder_needs_no_data(tmp_path: Path) -> None:
    info = {
        "input_shape": [8, 8, 3],
        "target": {"kind": "classes", "num_classes": 2, "shape": []},
        "train_size": None,
        "class_names": ["cats", "dogs"],
        "vocabulary": None,
    }
    folder = _fake_run(
        tmp_path, "dataset: images\ninput: 8x8x3\n\nflatten -> dense 2 softmax\n", info
    )
    result = CliRunner().invoke(main, ["emit", str(folder)])
    assert result.exit_code == 0, result.output
    assert "image_dataset_from_directory" in result.output and '["cats", "dogs"]' in result.output


# --- normalize: true in summary and emit ---------------------------------------------------------


def test_summary_and_emit_count_the_normalization_layer() -> None:
    model = netdsl.check(NORMALIZED, builtin_registry())
    layers = 12 * 8 + 8 + 8 + 1
    assert model.total_params == layers + 2 * 12 + 1
    text = summary_text(model)
    total = next(line for line in text.splitlines() if line.startswith("total parameters"))
    assert "normalize (implicit)" in text and total.split()[-1] == f"{model.total_params:,}"
    program = emit_program(model)
    assert 'keras.layers.Normalization(axis=-1, name="normalize")' in program
    assert 'model.get_layer("normalize").adapt(x_train)' in program
    assert f"({model.total_params:,} parameters)" in program


@pytest.mark.slow
def test_emitted_normalized_model_has_netdsl_build_parameter_count() -> None:
    model = netdsl.check(NORMALIZED, builtin_registry())
    namespace: dict[str, Any] = {}
    exec(compile(emit_program(model), "emitted.py", "exec"), namespace)
    assert namespace["build_model"]().count_params() == netdsl.build(model).count_params()


# --- every shipped program in canonical form -----------------------------------------------------

SHIPPED = sorted([*ROOT.glob("examples/*.net"), *ROOT.glob("examples/data/*.net")])


@pytest.mark.parametrize("path", SHIPPED, ids=[p.relative_to(ROOT).as_posix() for p in SHIPPED])
def test_shipped_programs_are_canonical(path: Path) -> None:
    result = CliRunner().invoke(main, ["fmt", "--check", str(path)])
    assert result.exit_code == 0, result.output


# --- schedules load in a fresh process -----------------------------------------------------------

ONE_CYCLE = """\
dataset: synthetic(classes=3, train_size=32, test_size=8)
input: 4
epochs: 1
optimizer: adam(learning_rate=one_cycle(0.004))

dense 3 softmax
"""

_FRESH = """
import importlib, json, sys
import keras
import netdsl
folder = sys.argv[1]
ours = netdsl.load_model(folder)
objects = json.load(open(folder + "/objects.json"))["custom_objects"]
custom = {n: getattr(importlib.import_module(p.split(":")[0]), p.split(":")[1]) for n, p in objects.items()}
plain = keras.saving.load_model(folder + "/model.keras", custom_objects=custom)
print(*(type(m.optimizer._learning_rate).__name__ for m in (ours, plain)))
"""


@pytest.mark.slow
def test_one_cycle_run_loads_in_a_fresh_process(tmp_path: Path) -> None:
    spec = tmp_path / "fast.net"
    spec.write_text(ONE_CYCLE)
    result = CliRunner().invoke(
        main, ["run", str(spec), "--out", str(tmp_path / "runs"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "runs").iterdir())
    objects = json.loads((folder / "objects.json").read_text())["custom_objects"]
    assert objects == {"netdsl>OneCycle": "netdsl_builtins.schedules:OneCycle"}
    assert json.loads((folder / "metrics.json").read_text())["reload_check_seconds"] > 0
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", _FRESH, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["OneCycle", "OneCycle"]


@pytest.mark.slow
def test_reload_check_runs_in_another_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object only this process knows (registered here, importable nowhere) passes an
    in-process load; the check in a fresh process refuses it."""
    import keras

    from netdsl.keras import saving

    @keras.saving.register_keras_serializable(package="only_here")
    class Twice(keras.layers.Layer):  # type: ignore[misc]
        def call(self, x: Any) -> Any:
            return 2.0 * x

    inputs = keras.Input((3,))
    net = keras.Model(inputs, Twice()(inputs))
    (tmp_path / "metrics.json").write_text("{}")
    net.save(tmp_path / "model.keras")
    keras.saving.load_model(tmp_path / "model.keras")  # this process can
    with pytest.raises(NetdslError, match="cannot be loaded back") as info:
        saving.verify_reload(tmp_path / "model.keras", net)
    assert info.value.code == "NDL310" and (tmp_path / "model.unloadable.keras").is_file()


# --- export of a normalized model; LiteRT without converter noise ---------------------------------


@pytest.mark.slow
def test_onnx_export_of_a_normalized_model(tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    import numpy as np

    from netdsl.keras.export import export_model, runtime_outputs

    model = netdsl.check(NORMALIZED, builtin_registry())
    net = netdsl.build(model)
    rng = np.random.default_rng(0)
    net.get_layer("normalize").adapt(rng.normal(5, 3, (64, 12)).astype("float32"))
    x = rng.normal(5, 3, (16, 12)).astype("float32")
    report = export_model(net, "onnx", tmp_path / "m.onnx", check_inputs=x)
    got = runtime_outputs("onnx", tmp_path / "m.onnx", x)
    assert got is not None and float(np.max(np.abs(got - net.predict(x, verbose=0)))) <= 1e-5
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    assert type(net.get_layer("normalize").mean).__name__ != "Variable"  # restored after


@pytest.mark.slow
def test_litert_export_of_an_lstm_prints_no_converter_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from netdsl.keras.export import export_model

    net = netdsl.build(netdsl.check((ROOT / "examples/lstm.net").read_text(), builtin_registry()))
    capfd.readouterr()
    report = export_model(net, "litert", tmp_path / "m.tflite")
    err = capfd.readouterr().err
    assert report.input_shape[0] == 1
    assert "error:" not in err and "XNNPACK" not in err, err


# --- the images test split is not called "validation" --------------------------------------------


@pytest.mark.slow
def test_images_loader_prints_no_keras_validation_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Keras's "Using 2 files for validation" spoke of what is netdsl's test split
    (examples/data/run_all.py printed it): the loader keeps it to itself."""
    from datafiles import write_image_folder

    from netdsl.vocab.components import DataRequest

    images = builtin_registry().get("dataset", "images")
    folder = write_image_folder(tmp_path / "pictures", per_class=5)
    args = {p.name: p.default for p in images.params}
    request = DataRequest("images", args, str(folder), None, (8, 8, 3))
    streams = images.load(request, images.describe(request))
    assert streams.train_size + streams.test_size == 10
    assert "validation" not in capsys.readouterr().out


@pytest.mark.slow
def test_predict_refuses_a_model_keras_that_does_not_fit_model_net(tmp_path: Path) -> None:
    """A model.keras copied in from another run (another input size) is NDL313 before any
    input reaches Keras, not Keras's ValueError (issue 27)."""
    folders = []
    for name, size in (("a", 8), ("b", 6)):
        program = tmp_path / f"{name}.net"
        program.write_text(
            f"dataset: synthetic(classes=3, train_size=64, test_size=16)\ninput: {size}\n"
            "epochs: 1\ndense 4 relu -> dense 3 softmax\n"
        )
        out = tmp_path / f"runs_{name}"
        result = CliRunner().invoke(main, ["run", str(program), "--out", str(out), "-q"])
        assert result.exit_code == 0, result.output
        (folder,) = out.iterdir()
        folders.append(folder)
    (folders[1] / "model.keras").replace(folders[0] / "model.keras")
    import numpy as np

    np.save(tmp_path / "x.npy", np.zeros((2, 8), np.float32))
    result = CliRunner().invoke(main, ["predict", str(folders[0]), str(tmp_path / "x.npy")])
    assert result.exit_code == 1
    assert "error[NDL313]" in result.stderr and "maps 6 to 3, the program 8 to 3" in result.stderr
    assert "Traceback" not in result.output + result.stderr
