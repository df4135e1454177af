"""Models that reload: a plugin's custom activation, the reload check after saving, load_model.

The failure this guards against (issue 12): a plugin built a model with its own Python
activation function; ``netdsl run`` trained it and printed "saved", and the ``.keras`` file then
failed in ``keras.models.load_model`` with a deserialisation TypeError. Each test installs a fake
plugin distribution (a ``.dist-info`` with a ``netdsl`` entry point) in a temporary folder.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import netdsl
from netdsl.errors import NetdslError
from netdsl.tools.cli import main
from netdsl.vocab.components import Activation

keras = pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[1]

#: a tiny program on the synthetic dataset: no files, trains in well under a second
PROGRAM = """\
dataset: synthetic(train_size=64, test_size=16)
input: 8
epochs: 1
seed: 1
dense 4 {act} -> dense 10 softmax
"""

#: a plugin with a custom activation function; CUSTOM is the `custom_objects=` argument
PLUGIN = '''\
"""A plugin whose activation is its own Python function (Keras is imported only when called)."""
from netdsl.vocab.components import Activation
from netdsl.vocab.hookspecs import hookimpl


def {fn}(x):
    """x * sigmoid(2x), imported lazily."""
    import keras

    return x * keras.ops.sigmoid(2.0 * x)


@hookimpl
def register_activations(register):
    register(Activation(name="{fn}", build=lambda: {fn}{custom}))
'''

#: the same through a Layer subclass that lives in a second module, the only one importing Keras
LAYER_PLUGIN = '''\
"""A plugin layer built from a Layer subclass in {mod}_objects (Keras-free at import)."""
from netdsl.vocab.components import Layer
from netdsl.vocab.hookspecs import hookimpl


def _build(**kwargs):
    from {mod}_objects import Doubler

    return Doubler()


@hookimpl
def register_layers(register):
    register(Layer(name="doubler", infer=lambda shape, args: (shape, 0), build=_build,
                   custom_objects=("{mod}_objects:Doubler",)))
'''

LAYER_OBJECTS = '''\
import keras


class Doubler(keras.layers.Layer):
    """Multiplies its input by two."""

    def call(self, x):
        return 2.0 * x
'''


class Site:
    """A folder on ``sys.path`` holding fake installed plugin distributions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def add(self, dist: str, files: dict[str, str]) -> None:
        module = next(iter(files))
        info = self.root / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[netdsl]\n{dist} = {module}\n")
        for name, source in files.items():
            (self.root / f"{name}.py").write_text(source)
            self.modules.append(name)
        importlib.invalidate_caches()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("NETDSL_PLUGINS", raising=False)
    s = Site(root)
    yield s
    for module in s.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


def _run(tmp_path: Path, act: str) -> tuple[int, str, Path]:
    spec = tmp_path / "tiny.net"
    spec.write_text(PROGRAM.format(act=act))
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(spec), "--out", str(out), "--quiet"])
    folders = sorted(out.iterdir()) if out.exists() else []
    assert len(folders) == 1, result.output
    return result.exit_code, result.output, folders[0]


@pytest.mark.slow
def test_unregistered_custom_activation_is_never_reported_saved(tmp_path: Path, site: Site) -> None:
    site.add("netdsl-swishy", {"swishy_plugin": PLUGIN.format(fn="swishy", custom="")})
    code, output, folder = _run(tmp_path, "swishy")
    # the failure of the issue, reproduced: plain Keras cannot load what was saved
    kept = folder / "model.unloadable.keras"
    with pytest.raises(TypeError, match="swishy"):
        keras.saving.load_model(kept)
    # ...and netdsl says so instead of "saved"
    assert code == 1
    assert "saved in" not in output
    assert "cannot be loaded back" in output and "swishy" in output and "custom_objects" in output
    assert not (folder / "model.keras").exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["status"], metrics["code"]) == ("failed", "NDL310") and "swishy" in metrics[
        "error"
    ]
    with pytest.raises(NetdslError, match="could not be loaded back"):
        netdsl.load_model(folder)


@pytest.mark.slow
def test_declared_custom_activation_saves_and_reloads(tmp_path: Path, site: Site) -> None:
    custom = ', custom_objects=("swishy2_plugin:swishy2",)'
    site.add("netdsl-swishy2", {"swishy2_plugin": PLUGIN.format(fn="swishy2", custom=custom)})
    code, output, folder = _run(tmp_path, "swishy2")
    assert code == 0, output
    assert "saved in" in output
    net = netdsl.load_model(folder)
    x = np.random.default_rng(0).random((5, 8), dtype=np.float32)
    dense = net.layers[1]
    assert dense.activation is sys.modules["swishy2_plugin"].swishy2
    assert net.predict(x, verbose=0).shape == (5, 10)
    # the .keras file path works the same as the folder
    same = netdsl.load_model(folder / "model.keras")
    np.testing.assert_array_equal(same.predict(x, verbose=0), net.predict(x, verbose=0))


@pytest.mark.slow
def test_custom_layer_class_from_a_keras_module_reloads(tmp_path: Path, site: Site) -> None:
    site.add(
        "netdsl-doubler",
        {"doubler_plugin": LAYER_PLUGIN.format(mod="doubler"), "doubler_objects": LAYER_OBJECTS},
    )
    spec = tmp_path / "tiny.net"
    spec.write_text(
        PROGRAM.format(act="relu").replace("dense 4 relu ->", "dense 4 relu -> doubler ->")
    )
    result = CliRunner().invoke(
        main, ["run", str(spec), "--out", str(tmp_path / "runs"), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    folder = next((tmp_path / "runs").iterdir())
    net = netdsl.load_model(folder)
    assert type(net.layers[2]).__name__ == "Doubler"
    # the plugin module itself imports no Keras: netdsl can check files without TensorFlow
    probe = (
        f"import sys; sys.path.insert(0, {str(site.root)!r}); import doubler_plugin; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "PATH": "/usr/bin:/bin"},
    )


def test_custom_objects_must_be_import_paths() -> None:
    bad = Activation(name="x", build=lambda: "relu", custom_objects=("not a path",))
    assert any("custom_objects" in p for p in bad.problems())
    good = Activation(name="x", build=lambda: "relu", custom_objects=("pkg.mod:fn",))
    assert good.problems() == []


@pytest.mark.parametrize(
    "name, expected",
    [
        ("missing", "no such file or folder"),
        ("empty_dir", "has no model.keras"),
        ("model.h5", "is not a .keras file"),
    ],
    ids=["missing", "folder-without-model", "wrong-suffix"],
)
def test_load_model_names_what_is_wrong(tmp_path: Path, name: str, expected: str) -> None:
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(NetdslError, match=expected):
        netdsl.load_model(tmp_path / name)


def test_corrupt_keras_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(NetdslError, match="cannot be loaded"):
        netdsl.load_model(bad)
