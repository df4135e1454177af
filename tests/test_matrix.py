"""Every built-in dataset kind x every verb that reads a finished run (issue 21).

Each cell's model is trained once (one epoch, tiny data made here in the dataset's real format),
then its data is moved away, so every verb is seen to work from the run folder alone:
``predict`` on raw inputs of the dataset's kind, ``load_model`` in a fresh process (through
netdsl and through plain Keras given ``objects.json``), each export format checked in its own
runtime, ``emit`` from the run folder and the emitted program run (pointed at the moved data),
``plot`` and ``runs``. The fresh-process loads and the emitted programs run in one subprocess
each for the whole matrix (one TensorFlow import, not one per cell).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from datafiles import (
    write_cifar_archive,
    write_csv,
    write_idx_folder,
    write_image_folder,
    write_png,
    write_sequence_npz,
)

import netdsl
from netdsl.checking.recorded import LABELS_FORMAT
from netdsl.run.driver import run_model
from netdsl.tools.cli import main

keras = pytest.importorskip("keras")
kd = pytest.importorskip("netdsl_builtins.keras_datasets")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Cell:
    """One dataset kind: its program (``{data}``: where its files are), the files it reads,
    whether the path goes in ``--data`` instead, and a raw input for ``predict``."""

    program: str
    make: Callable[[Path], Path]  # writes the data under the folder, returns its path
    predict_input: Callable[[Path], Path]  # writes a raw input under the folder, returns it
    via_data: bool = False  # the path goes in --data (the program names none)
    trusted: str | None = None  # a pickled Keras file: its hash joins the published table
    classifier: bool = True


def _npz(kind: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        rng = np.random.default_rng(0)
        x = rng.normal(0, 1, (40, 4)).astype(np.float32)
        y = {
            "classes": rng.integers(0, 3, 40),
            "binary": rng.integers(0, 2, 40),
            "regression": rng.normal(0, 1, 40).astype(np.float32),
        }[kind]
        np.savez(folder / "data.npz", x=x, y=y)
        return folder / "data.npz"

    return make


def _binary_csv(folder: Path) -> Path:
    rng = np.random.default_rng(1)
    rows = ["a,b,c,label"] + [
        f"{x[0]:.3f},{x[1]:.3f},{x[2]:.3f},{int(x.sum() > 0)}" for x in rng.normal(0, 1, (60, 3))
    ]
    (folder / "binary.csv").write_text("\n".join(rows) + "\n")
    return folder / "binary.csv"


def _idx(folder: Path) -> Path:
    write_idx_folder(folder / "idx", n_train=24, n_test=8)
    return folder / "idx"


def _table(features: int, name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        rng = np.random.default_rng(2)
        np.savez(folder / name, x=rng.normal(0, 1, (40, features)), y=rng.normal(20, 5, 40))
        return folder / name

    return make


def _rows(features: int) -> Callable[[Path], Path]:
    """A CSV of raw feature rows (a header, then two rows) for ``predict``."""

    def make(folder: Path) -> Path:
        head = ",".join(f"f{i}" for i in range(features))
        (folder / "rows.csv").write_text(
            head
            + "\n"
            + "\n".join(",".join(str(0.1 * (i + r)) for i in range(features)) for r in range(2))
            + "\n"
        )
        return folder / "rows.csv"

    return make


def _array(shape: tuple[int, ...], ids: int = 0) -> Callable[[Path], Path]:
    """A batch of two inputs as ``.npy`` (word ids below ``ids`` when given)."""

    def make(folder: Path) -> Path:
        rng = np.random.default_rng(3)
        a = rng.integers(1, ids, (2, *shape)) if ids else rng.random((2, *shape), dtype=np.float32)
        np.save(folder / "inputs.npy", a)
        return folder / "inputs.npy"

    return make


def _picture(size: int, rgb: bool) -> Callable[[Path], Path]:
    """A PNG of another size than the model's: predict resizes it."""

    def make(folder: Path) -> Path:
        shape = (size + 3, size + 5, 3) if rgb else (size + 3, size + 5)
        return write_png(folder / "picture.png", np.full(shape, 120, np.uint8))

    return make


CELLS: dict[str, Cell] = {
    "mnist": Cell("dataset: mnist({data})\n\ndense 10 softmax", _idx, _picture(28, False)),
    "synthetic": Cell(
        "dataset: synthetic(classes=3, train_size=32, test_size=8)\ninput: 4\n\ndense 3 softmax",
        lambda f: f,
        _array((4,)),
    ),
    "npz-classes": Cell(
        "dataset: npz({data})\n\ndense 8 relu -> dense 3 softmax", _npz("classes"), _array((4,))
    ),
    "npz-binary": Cell("dataset: npz({data})\n\ndense 1 sigmoid", _npz("binary"), _array((4,))),
    "npz-regression": Cell(
        "dataset: npz({data})\nnormalize: true\n\ndense 8 relu -> dense 1",
        _npz("regression"),
        _array((4,)),
        classifier=False,
    ),
    "csv-classes": Cell(
        'dataset: csv({data}, label="species")\nnormalize: true\n\ndense 8 relu -> dense 3 softmax',
        lambda f: write_csv(f / "iris.csv", 60, task="names"),
        _rows(4),
    ),
    "csv-binary": Cell("dataset: csv({data})\n\ndense 1 sigmoid", _binary_csv, _rows(3)),
    "csv-regression": Cell(
        'dataset: csv({data}, label="target")\nnormalize: true\n\ndense 8 relu -> dense 1',
        lambda f: write_csv(f / "houses.csv", 60, task="reals"),
        _rows(4),
        classifier=False,
    ),
    "images": Cell(
        "dataset: images\ninput: 8x8x3\n\nconv2d 4 3 relu -> flatten -> dense 2 softmax",
        lambda f: write_image_folder(f / "pictures", per_class=6),
        _picture(8, True),
        via_data=True,
    ),
    "fashion_mnist": Cell(
        "dataset: fashion_mnist({data})\n\ndense 10 softmax", _idx, _picture(28, False)
    ),
    "cifar10": Cell(
        "dataset: cifar10({data})\n\nconv2d 4 3 relu -> flatten -> dense 10 softmax",
        lambda f: write_cifar_archive(f / "cifar-10-python.tar.gz", n=4),
        _picture(32, True),
        trusted="cifar10",
    ),
    "cifar100": Cell(
        "dataset: cifar100({data})\n\nflatten -> dense 100 softmax",
        lambda f: write_cifar_archive(f / "cifar-100-python.tar.gz", hundred=True, n=8),
        _picture(32, True),
        trusted="cifar100",
    ),
    "imdb": Cell(
        "dataset: imdb({data}, num_words=200, maxlen=20)\n\n"
        "embedding 200 4 -> global_avgpool1d -> dense 1 sigmoid",
        lambda f: write_sequence_npz(f / "imdb.npz", n=24),
        _array((20,), ids=200),
        trusted="imdb",
    ),
    "reuters": Cell(
        "dataset: reuters({data}, num_words=200, maxlen=20)\n\n"
        "embedding 200 4 -> global_avgpool1d -> dense 46 softmax",
        lambda f: write_sequence_npz(f / "reuters.npz", reuters=True, n=40),
        _array((20,), ids=200),
        trusted="reuters",
    ),
    "boston_housing": Cell(
        "dataset: boston_housing({data})\nnormalize: true\n\ndense 1",
        _table(13, "boston_housing.npz"),
        _rows(13),
        classifier=False,
    ),
    "california_housing": Cell(
        "dataset: california_housing({data})\n\ndense 1",
        _table(8, "california_housing.npz"),
        _rows(8),
        classifier=False,
    ),
}

IDS = list(CELLS)
FORMATS = ["savedmodel", "onnx", "litert"]


@dataclass
class Trained:
    folder: Path
    data: Path  # where the data is now (moved after training)
    model: Any  # the checked program


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Trained]]:
    """Every cell trained once (1 epoch, seed 0); then its data moved elsewhere."""
    root = tmp_path_factory.mktemp("matrix")
    out: dict[str, Trained] = {}
    with pytest.MonkeyPatch.context() as mp:
        for name, cell in CELLS.items():
            home = root / "data" / name
            home.mkdir(parents=True)
            data = cell.make(home)
            if cell.trusted:
                mp.setitem(kd.KNOWN_SHA256, kd.sha256(data), (cell.trusted, data.name))
            where = "" if cell.via_data or name == "synthetic" else json.dumps(str(data))
            text = (
                cell.program.format(data=where).replace("()", "").replace("(, ", "(") + "\n"
            ).replace("\n\n", "\nepochs: 1\nbatch_size: 8\nseed: 0\n\n", 1)
            spec = root / f"{name.replace('-', '_')}.net"
            spec.write_text(text)
            model = netdsl.check(
                text, filename=str(spec), data=str(data) if cell.via_data else None
            )
            report = run_model(
                model, data=data if cell.via_data else None, out_dir=root / "runs", quiet=True
            )
            assert report.status == "finished", name
            moved = root / "moved" / name
            shutil.move(str(home), str(moved))
            out[name] = Trained(report.folder, moved / data.relative_to(home), model)
    yield out


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# --- the run folder ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_run_folder_records_labels_and_confusion(trained: dict[str, Trained], name: str) -> None:
    folder = trained[name].folder
    record = json.loads((folder / "data.json").read_text())
    assert record["info"]["input_shape"] == list(trained[name].model.data.input_shape)
    if name != "synthetic":
        assert record["data_source"]["path"] and Path(record["data_source"]["path"]).is_absolute()
    assert json.loads((folder / "objects.json").read_text()) == {"custom_objects": {}}
    if CELLS[name].classifier:
        labels = json.loads((folder / "labels.json").read_text())
        assert labels["format"] == LABELS_FORMAT and labels["encoding"] in (
            "categorical",
            "sparse",
            "binary",
        )
        confusion = json.loads((folder / "confusion.json").read_text())
        k = len(confusion["classes"])
        assert k == len(labels["classes"]) and len(confusion["matrix"]) == k
        assert sum(map(sum, confusion["matrix"])) == record["test_size"]
    else:
        assert not (folder / "labels.json").exists() and not (folder / "confusion.json").exists()


# --- predict -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_predict_on_raw_inputs(trained: dict[str, Trained], name: str, tmp_path: Path) -> None:
    item = CELLS[name].predict_input(tmp_path)
    result = _cli("predict", str(trained[name].folder), str(item), "--json")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.output)["predictions"]
    assert len(predictions) >= 1
    if CELLS[name].classifier:
        top = predictions[0]["top"][0]
        names = json.loads((trained[name].folder / "labels.json").read_text())["classes"]
        assert top["label"] == names[top["class"]] and 0 <= top["probability"] <= 1
    else:
        assert len(predictions[0]["values"]) == 1


# --- load_model in a fresh process ---------------------------------------------------------------

_LOADER = textwrap.dedent("""
    import importlib, json, sys
    import numpy as np
    import keras
    import netdsl
    for folder in sys.argv[1:]:
        ours = netdsl.load_model(folder)
        objects = json.load(open(folder + "/objects.json"))["custom_objects"]
        custom = {name: getattr(importlib.import_module(path.split(":")[0]), path.split(":")[1])
                  for name, path in objects.items()}
        plain = keras.saving.load_model(folder + "/model.keras", custom_objects=custom)
        same = all(np.array_equal(a, b) for a, b in zip(ours.get_weights(), plain.get_weights()))
        print(json.dumps({"folder": folder, "weights": [float(np.sum(w)) for w in plain.get_weights()],
                          "same": same}))
""")


@pytest.fixture(scope="module")
def fresh_loads(trained: dict[str, Trained]) -> dict[str, dict[str, Any]]:
    """Every cell's model loaded in one new interpreter, by netdsl and by plain Keras."""
    folders = [str(t.folder) for t in trained.values()]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    done = subprocess.run(
        [sys.executable, "-c", _LOADER, *folders],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {row["folder"]: row for row in rows}


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_load_model_in_a_fresh_process(
    trained: dict[str, Trained], name: str, fresh_loads: dict[str, dict[str, Any]]
) -> None:
    row = fresh_loads[str(trained[name].folder)]
    here = netdsl.load_model(trained[name].folder)
    assert row["same"]
    np.testing.assert_allclose(row["weights"], [float(np.sum(w)) for w in here.get_weights()])


# --- export --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMATS)
@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_export(trained: dict[str, Trained], name: str, fmt: str, tmp_path: Path) -> None:
    pytest.importorskip("tf2onnx") if fmt == "onnx" else None
    out = tmp_path / {"savedmodel": "m_savedmodel", "onnx": "m.onnx", "litert": "m.tflite"}[fmt]
    result = _cli("export", str(trained[name].folder), "--format", fmt, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("{"), result.output  # nothing else printed
    report = json.loads(result.output)
    assert out.exists()
    assert report["max_abs_diff"] is None or report["max_abs_diff"] <= 1e-5


# --- emit, and the emitted program run -----------------------------------------------------------

_RUNNER = textwrap.dedent("""
    import importlib.util, json, sys
    for name, path, data in json.loads(sys.argv[1]):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        argv = ["--epochs", "1"] + (["--data", data] if data else [])
        model = module.main(argv)
        print(json.dumps({"name": name, "params": model.count_params(),
                          "netdsl": any(m.startswith("netdsl") for m in sys.modules)}))
""")


@pytest.fixture(scope="module")
def emitted(
    trained: dict[str, Trained], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every cell's program emitted from its run folder, then all run in one new interpreter
    (plain Keras: netdsl is not on its path) on the moved data, for one epoch."""
    root = tmp_path_factory.mktemp("emitted")
    jobs = []
    for name, t in trained.items():
        path = root / f"{name.replace('-', '_')}.py"
        result = _cli("emit", str(t.folder), "-o", str(path))
        assert result.exit_code == 0, result.output
        data = "" if name == "synthetic" else str(t.data)
        jobs.append((name.replace("-", "_"), str(path), data))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=root,
    )
    rows = {
        json.loads(line)["name"]: json.loads(line)
        for line in done.stdout.splitlines()
        if line.startswith('{"name"')
    }
    if done.returncode != 0:
        rows["__error__"] = {"stderr": done.stderr[-3000:]}
    return rows


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_emit_from_the_run_folder_runs(
    trained: dict[str, Trained], name: str, emitted: dict[str, dict[str, Any]]
) -> None:
    row = emitted.get(name.replace("-", "_"))
    assert row is not None, emitted.get("__error__")
    assert not row["netdsl"]
    assert row["params"] == trained[name].model.total_params  # normalize: true included


# --- plot and runs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IDS, ids=IDS)
def test_plot(trained: dict[str, Trained], name: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = trained[name].folder
    out = tmp_path / "curves.png"
    result = _cli("plot", str(folder), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert (tmp_path / f"curves-{folder.name}-confusion.png").is_file() == CELLS[name].classifier


def test_runs_lists_every_cell(trained: dict[str, Trained]) -> None:
    root = next(iter(trained.values())).folder.parent
    result = _cli("runs", str(root), "--json")
    assert result.exit_code == 0, result.output
    listed = {Path(r["path"]).name: r for r in json.loads(result.output)["runs"]}
    for t in trained.values():
        assert t.folder.name in listed and listed[t.folder.name]["status"] == "finished"
