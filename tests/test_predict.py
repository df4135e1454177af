"""``netdsl predict``: images, arrays and CSV rows through a run folder's model; bad inputs named."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from netdsl.tools.cli import main

keras = pytest.importorskip("keras")
Image = pytest.importorskip("PIL.Image")

SPEC = "dense 16 relu -> dense 10 softmax\n"


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder as `netdsl run` leaves it, for an MNIST-shaped MLP (untrained weights)."""
    import netdsl
    from netdsl.keras.training import spec_text
    from netdsl.vocab.registry import load_registry

    folder = tmp_path_factory.mktemp("runs") / "seed"
    folder.mkdir()
    checked = netdsl.check(SPEC, load_registry(third_party=False))
    (folder / "model.net").write_text(spec_text(checked))
    netdsl.build(checked).save(folder / "model.keras")
    return folder


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    files = {
        "png": tmp_path / "digit.png",
        "jpg": tmp_path / "photo.jpg",
        "npy": tmp_path / "one.npy",
        "batch": tmp_path / "batch.npy",
        "npz": tmp_path / "two.npz",
        "csv": tmp_path / "rows.csv",
    }
    Image.fromarray((rng.random((28, 28)) * 255).astype(np.uint8), mode="L").save(files["png"])
    Image.fromarray((rng.random((40, 30, 3)) * 255).astype(np.uint8), mode="RGB").save(files["jpg"])
    np.save(files["npy"], rng.random((28, 28, 1), dtype=np.float32))
    np.save(files["batch"], rng.random((3, 784), dtype=np.float32))
    np.savez(files["npz"], a=rng.random((28, 28)), b=rng.random((2, 28, 28, 1)))
    header = ",".join(f"p{i}" for i in range(784))
    rows = "\n".join(",".join(f"{v:.3f}" for v in rng.random(784)) for _ in range(2))
    files["csv"].write_text(header + "\n" + rows + "\n")
    return files


@pytest.mark.slow
def test_every_input_kind_gives_top_classes(run_folder: Path, inputs: dict[str, Path]) -> None:
    result = _invoke("predict", str(run_folder), *map(str, inputs.values()), "--json", "--top", "2")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.output)["predictions"]
    names = [p["input"] for p in predictions]
    assert names == [
        str(inputs["png"]),
        str(inputs["jpg"]),
        str(inputs["npy"]),
        *(f"{inputs['batch']}[{i}]" for i in range(3)),
        f"{inputs['npz']}:a",
        *(f"{inputs['npz']}:b[{i}]" for i in range(2)),
        f"{inputs['csv']}:2",
        f"{inputs['csv']}:3",
    ]
    for p in predictions:
        assert len(p["top"]) == 2
        assert p["top"][0]["probability"] >= p["top"][1]["probability"]
        assert p["top"][0]["label"] == str(p["top"][0]["class"])  # MNIST's class names are digits
    assert predictions[1]["note"] == "resized from 30x40"


@pytest.mark.slow
def test_probabilities_are_the_models_own(run_folder: Path, inputs: dict[str, Path]) -> None:
    x = np.load(inputs["npy"])
    expected = keras.saving.load_model(run_folder / "model.keras").predict(x[None], verbose=0)[0]
    result = _invoke("predict", str(run_folder), str(inputs["npy"]), "--json", "--top", "10")
    top = json.loads(result.output)["predictions"][0]["top"]
    got = np.zeros(10)
    for t in top:
        got[t["class"]] = t["probability"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
def test_text_output_and_labels_json(
    run_folder: Path, inputs: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "labelled"
    folder.mkdir()
    for name in ("model.net", "model.keras"):
        (folder / name).write_bytes((run_folder / name).read_bytes())
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (folder / "labels.json").write_text(json.dumps(names))
    result = _invoke("predict", str(folder), str(inputs["png"]), "--top", "3")
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line.startswith(f"{inputs['png']}: ") and line.count("%") == 3
    assert any(n in line for n in names)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, make, message",
    [
        (
            "rows.csv",
            lambda p: p.write_text("1,2,3\n"),
            "rows.csv:1: 3 columns, but the model takes 784 values (28x28x1) per row",
        ),
        (
            "bad.npy",
            lambda p: np.save(p, np.zeros((5, 5))),
            "an array of shape 5x5 is neither one input of shape 28x28x1",
        ),
        ("bad.png", lambda p: p.write_bytes(b"\x89PNG not really"), "not a readable image"),
        ("garbage.npy", lambda p: p.write_bytes(b"garbage"), "is not a NumPy array"),
        ("notes.txt", lambda p: p.write_text("x"), "cannot tell what `.txt` holds"),
        ("gone.png", lambda p: None, "no such file"),
        (
            "bomb.gif",
            lambda p: p.write_bytes(b"GIF89a\xff\xff\xff\xff" + bytes(3) + b";"),
            "declares 65,535x65,535 pixels",
        ),
        (
            "objects.npz",
            lambda p: np.savez(p, x=np.array([None, {}], dtype=object)),
            "array of Python objects",
        ),
        (
            "long.csv",
            lambda p: p.write_text("9" * 200_000 + "\n"),
            "1 columns, but the model takes 784 values",
        ),
    ],
    ids=[
        "csv-columns",
        "npy-shape",
        "bad-png",
        "bad-npy",
        "unknown-suffix",
        "missing",
        "gif-bomb",
        "npz-objects",
        "csv-cell-over-csv-field-limit",
    ],
)
def test_bad_inputs_are_clear_errors_naming_the_file(
    run_folder: Path, tmp_path: Path, name: str, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / name
    make(path)
    result = _invoke("predict", str(run_folder), str(path))
    assert result.exit_code == 1
    assert str(path) in result.output and message in result.output
    assert "Traceback" not in result.output


def test_predict_needs_a_run_folder(tmp_path: Path) -> None:
    result = _invoke("predict", str(tmp_path), "x.png")
    assert result.exit_code == 1 and "not a run folder" in result.output


@pytest.mark.slow
def test_regression_prints_values(tmp_path: Path) -> None:
    spec = tmp_path / "reg.net"
    spec.write_text(
        "dataset: synthetic(regression, outputs=2, train_size=32, test_size=8)\n"
        "input: 3\nepochs: 1\ndense 4 relu -> dense 2\n"
    )
    run = _invoke("run", str(spec), "--out", str(tmp_path / "runs"), "--quiet")
    assert run.exit_code == 0, run.output
    folder = next((tmp_path / "runs").iterdir())
    (tmp_path / "x.csv").write_text("0.1,0.2,0.3\n")
    result = _invoke("predict", str(folder), str(tmp_path / "x.csv"), "--json")
    assert result.exit_code == 0, result.output
    values = json.loads(result.output)["predictions"][0]["values"]
    expected = keras.saving.load_model(folder / "model.keras").predict(
        np.array([[0.1, 0.2, 0.3]], dtype=np.float32), verbose=0
    )[0]
    np.testing.assert_allclose(values, expected, rtol=1e-6)
