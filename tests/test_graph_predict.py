"""``netdsl predict`` on a graph's run: several inputs by name (NAME=FILE, one npz of x_<name>
arrays, one CSV whose header names each input's columns), each output printed by name; the
examples of issue 22 and a hand-made graph of three inputs and two outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from graph_programs import EXAMPLE_NAMES, TINY_INPUTS, source, tiny_arrays

import netdsl
from netdsl.tools.cli import main

keras = pytest.importorskip("keras")


def _run_folder(name: str, folder: Path) -> Path:
    """A run folder as `netdsl run` leaves it (model.net, data.json, model.keras; untrained)."""
    from netdsl.keras.training import spec_text

    text, filename = source(name, folder)
    checked = netdsl.check(text, filename=filename)
    run = folder / f"run-{name}"
    run.mkdir()
    (run / "model.net").write_text(spec_text(checked))
    (run / "data.json").write_text(json.dumps({"info": checked.data.to_json()}))
    netdsl.build(checked).save(run / "model.keras")
    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run_folder("tiny", tmp_path_factory.mktemp("tiny"))


def _predict(*args: str) -> Any:
    result = CliRunner().invoke(main, ["predict", *args])
    return result


def _write_inputs(folder: Path) -> dict[str, Path]:
    arrays = {k: v for k, v in tiny_arrays(3, seed=7).items() if k.startswith("x_")}
    files = {"npz": folder / "in.npz", "csv": folder / "in.csv"}
    np.savez(files["npz"], **arrays)  # type: ignore[arg-type]
    for k, v in arrays.items():
        files[k[2:]] = folder / f"{k[2:]}.npy"
        np.save(files[k[2:]], v)
    header = [f"{k}_{i}" for k, s in TINY_INPUTS.items() for i in range(int(np.prod(s)))]
    rows = np.concatenate([arrays[f"x_{k}"].reshape(3, -1) for k in TINY_INPUTS], axis=1)
    lines = [",".join(header)] + [",".join(repr(float(v)) for v in row) for row in rows]
    files["csv"].write_text("\n".join(lines) + "\n")
    return files


@pytest.mark.slow
def test_every_way_of_naming_inputs_gives_the_same_outputs(tiny_run: Path, tmp_path: Path) -> None:
    files = _write_inputs(tmp_path)
    ways = {
        "named-files": [f"{k}={files[k]}" for k in ("b", "img", "a")],  # any order
        "npz": [str(files["npz"])],
        "csv": [str(files["csv"])],
    }
    got = {}
    for way, args in ways.items():
        result = _predict(str(tiny_run), *args, "--json", "--top", "2")
        assert result.exit_code == 0, (way, result.output)
        predictions = json.loads(result.output)["predictions"]
        assert len(predictions) == 3
        assert [list(p["outputs"]) for p in predictions] == [["cls", "score"]] * 3
        got[way] = [
            (p["outputs"]["cls"]["top"][0]["class"], p["outputs"]["score"]["values"][0])
            for p in predictions
        ]
        for p in predictions:
            top = p["outputs"]["cls"]["top"]
            assert len(top) == 2 and top[0]["probability"] >= top[1]["probability"]
    for way in ways:
        assert [c for c, _ in got[way]] == [c for c, _ in got["npz"]]
        assert np.allclose([v for _, v in got[way]], [v for _, v in got["npz"]], atol=1e-5)
    text = _predict(str(tiny_run), str(files["npz"])).output
    assert f"{files['npz']}[0]:\n  cls: " in text and "\n  score: " in text


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["a=A", "b=B"], "no values for the input `img`"),
        (["img=I", "a=A", "c=B"], "has no input `c`"),
        (["img=I", "a=A", "b=B", "a=A"], "the input `a` is given twice"),
        (["img=I", "A"], "give every input as NAME=FILE, or none"),
        (["A"], "this model takes 3 inputs (`img`, `a`, `b`)"),
        (["short"], "the inputs give different numbers of examples"),
        (["badcsv"], "the column `c_0` (column 1) names no input"),
    ],
    ids=["missing", "unknown", "twice", "mixed", "unnamed", "counts", "csv-header"],
)
def test_bad_named_inputs_are_clear_errors(
    tiny_run: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    files = _write_inputs(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros((2, 3), np.float32))
    (tmp_path / "bad.csv").write_text("c_0,a_0\n1,2\n")
    subst = {"I": files["img"], "A": files["a"], "B": files["b"]}
    if args == ["short"]:
        args = [f"img={files['img']}", f"a={files['a']}", f"b={tmp_path / 'short.npy'}"]
    elif args == ["badcsv"]:
        args = [str(tmp_path / "bad.csv")]
    else:
        args = [
            "=".join(str(subst.get(p, p)) for p in a.split("=")) if "=" in a else str(subst[a])
            for a in args
        ]
    result = _predict(str(tiny_run), *args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLE_NAMES, ids=EXAMPLE_NAMES)
def test_examples_predict_each_output(name: str, tmp_path: Path) -> None:
    run = _run_folder(name, tmp_path)
    text, filename = source(name, tmp_path)
    model = netdsl.check(text, filename=filename)
    rng = np.random.default_rng(0)
    arrays = {f"x_{i.name}": rng.random((2, *i.shape), dtype=np.float32) for i in model.inputs}
    np.savez(tmp_path / "in.npz", **arrays)  # type: ignore[arg-type]
    result = _predict(str(run), str(tmp_path / "in.npz"), "--json")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.output)["predictions"]
    assert len(predictions) == 2
    assert list(predictions[0]["outputs"]) == [o.name for o in model.outputs]
    if name == "unet":  # one output of 28x28x1 values (a picture)
        assert len(predictions[0]["outputs"]["y"]["values"]) == 784


@pytest.mark.slow
def test_a_model_file_of_another_graph_is_refused(tmp_path: Path) -> None:
    run = _run_folder("tiny", tmp_path)
    other = _run_folder("siamese", tmp_path)
    (run / "model.keras").unlink()
    (other / "model.keras").rename(run / "model.keras")
    result = _predict(str(run), str(tmp_path / "tiny.npz"))
    assert result.exit_code != 0
    assert "model.keras does not fit model.net" in result.output
    assert "a 28x28x1, b 28x28x1 to same 1" in result.output
