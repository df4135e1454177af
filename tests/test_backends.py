"""Keras backends: the ``backend:`` setting and ``--backend``, components that declare where they
run, the built-in tables on the JAX backend (a subprocess: Keras fixes its backend at import),
and a ``.keras`` file trained on one backend loading on the other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import netdsl
from netdsl.checking import backends as backend_rules
from netdsl.errors import NetdslError, NetdslTrainingError
from netdsl.tools.cli import main
from netdsl.vocab import backends
from netdsl.vocab.components import Layer
from netdsl.vocab.registry import Provider, Registry, load_registry

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    ),
}
HAS_JAX = __import__("importlib").util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(
    not HAS_JAX, reason="the jax backend is not installed (pip install 'netdsl[jax]')"
)
TINY = (
    "dataset: synthetic(train_size=256, test_size=64)\ninput: 8\nepochs: 1\nbatch_size: 32\nseed: 3\n"
    "dense 16 relu -> dense 10 softmax\n"
)


@pytest.mark.parametrize(
    ("setting", "env", "expected"),
    [
        (None, {}, "tensorflow"),
        (None, {"KERAS_BACKEND": "jax"}, "jax"),
        ("tensorflow", {"KERAS_BACKEND": "jax"}, "tensorflow"),
        ("jax", {}, "jax"),
    ],
    ids=["default", "env", "setting-wins", "setting"],
)
def test_which_backend(setting: str | None, env: dict[str, str], expected: str) -> None:
    assert backends.resolve(setting, env) == expected


def test_unknown_backend_in_the_environment_is_a_clear_error() -> None:
    with pytest.raises(NetdslTrainingError) as caught:
        backends.resolve(None, {"KERAS_BACKEND": "torch"})
    assert caught.value.code == "NDL320"
    assert "KERAS_BACKEND=torch" in caught.value.message and "`jax`" in (
        caught.value.expected or ""
    )


def test_backend_setting_is_a_program_line_and_a_run_flag() -> None:
    model = netdsl.check("backend: jax\n" + "dense 10 softmax\n")
    assert model.settings["backend"] == "jax"
    with pytest.raises(NetdslError) as caught:
        netdsl.check("backend: torch\ndense 10 softmax\n")
    err = caught.value.errors[0]
    assert err.span is not None and "`torch` is not allowed" in err.message
    assert (err.span.line, err.span.column) == (1, 10)
    assert model.replace(backend="tensorflow").settings["backend"] == "tensorflow"
    result = CliRunner().invoke(main, ["run", "--help"])
    assert "--backend" in result.output


def _registry_with_tf_only_layer() -> Registry:
    registry = load_registry(third_party=False)
    dense = registry.get("layer", "dense")
    assert isinstance(dense, Layer)
    registry.add(
        replace(dense, name="tf_dense", aliases=(), backends=("tensorflow",)),
        Provider("tf-only-plugin", "0.1", "tf_only"),
    )
    return registry


def test_component_that_cannot_run_on_a_backend_is_an_error_at_its_layer() -> None:
    registry = _registry_with_tf_only_layer()
    source = "dense 32 relu\n  -> tf_dense 10 softmax\n"
    model = netdsl.check(source, registry)  # no backend chosen: fine
    [err] = backend_rules.problems(model, "jax")
    assert (
        err.code == "NDL320" and "layer `tf_dense` does not run on the jax backend" in err.message
    )
    assert err.span is not None and (err.span.line, err.span.column) == (2, 6)
    assert "--backend tensorflow" in (err.help or "")
    assert backend_rules.problems(model, "tensorflow") == []
    with pytest.raises(NetdslError) as caught:
        netdsl.check("backend: jax\n" + source, registry)
    span = caught.value.errors[0].span
    assert span is not None and span.line == 3


def test_check_backend_flag_reports_at_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = _registry_with_tf_only_layer()
    monkeypatch.setattr("netdsl.tools.cli.terminal.State.registry", property(lambda self: registry))
    path = tmp_path / "m.net"
    path.write_text("dense 32 relu -> tf_dense 10 softmax\n")
    ok = CliRunner().invoke(main, ["check", str(path), "--backend", "tensorflow"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(main, ["check", str(path), "--backend", "jax"])
    assert bad.exit_code == 1
    assert "NDL320" in bad.output and "m.net:1:18" in bad.output and "not on jax" in bad.output


def test_a_bad_backends_declaration_is_a_plugin_problem() -> None:
    registry = load_registry(third_party=False)
    dense = registry.get("layer", "dense")
    assert isinstance(dense, Layer)
    assert any(p.startswith("backends:") for p in replace(dense, backends=("torch",)).problems())
    assert not replace(dense, backends=("jax",)).problems()


def test_keras_already_running_on_another_backend_is_a_clear_error() -> None:
    pytest.importorskip("keras")
    from netdsl.keras.runtime import import_keras

    running = import_keras().backend.backend()
    other = "jax" if running == "tensorflow" else "tensorflow"
    with pytest.raises(NetdslTrainingError) as caught:
        import_keras(other)
    assert f"already running on the {running} backend" in caught.value.message
    assert caught.value.code == "NDL320"
    with pytest.raises(NetdslTrainingError):
        netdsl.build(netdsl.check(f"backend: {other}\ndense 10 softmax\n"))


@pytest.mark.slow
@needs_jax
def test_builtin_tables_build_on_jax() -> None:
    """The optimizer, loss, metric, activation and regularizer tables, every layer on its own
    (shape and parameter count against real tensors), every merge, the layers Keras refuses, and
    whole models using every family of layers (the examples too), built and compared on JAX."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            "tests/test_builtins_keras.py",
            "tests/test_layers_keras.py::test_layer_matches_keras",
            "tests/test_layers_keras.py::test_refused_by_netdsl_and_keras",
            "tests/test_layers_keras.py::test_model_matches_keras",
            "tests/test_layers_keras.py::test_merge_matches_keras",
            "tests/test_layers_keras.py::test_example_checks_and_matches_keras",
            "-k",
            "not importing",
            "-W",
            "ignore::DeprecationWarning",
            "-p",
            "tests.backend_probe",
        ],
        cwd=ROOT,
        env={**ENV, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "keras backend: jax" in result.stdout
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.slow
@needs_jax
def test_a_model_trained_on_one_backend_loads_on_the_other(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "tensorflow"
    program = tmp_path / "tiny.net"
    program.write_text(TINY)
    # trained on TensorFlow, here
    result = CliRunner().invoke(main, ["run", str(program), "--out", str(tmp_path / "tf"), "-q"])
    assert result.exit_code == 0, result.output
    [tf_model] = (tmp_path / "tf").glob("*/model.keras")
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "tf_pred.npy", keras.models.load_model(tf_model).predict(x, verbose=0))
    # loaded on JAX, and a JAX-trained model saved, in another process
    code = (
        "import sys, numpy as np, keras\n"
        "from netdsl.tools.cli import main\n"
        "assert keras.backend.backend() == 'jax'\n"
        "d = sys.argv[1]\n"
        f"m = keras.models.load_model({str(tf_model)!r})\n"
        "np.save(d + '/jax_pred.npy', m.predict(np.load(d + '/x.npy'), verbose=0))\n"
        "sys.argv = ['netdsl', 'run', d + '/tiny.net', '--backend', 'jax', '--out', d + '/jax', '-q']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env={**ENV, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(
        np.load(tmp_path / "jax_pred.npy"), np.load(tmp_path / "tf_pred.npy"), rtol=1e-5, atol=1e-6
    )
    [jax_run] = (tmp_path / "jax").glob("*/")
    metrics = json.loads((jax_run / "metrics.json").read_text())
    assert metrics["versions"]["backend"] == "jax" and "jax" in metrics["versions"]
    # ... and the JAX-trained model evaluates on TensorFlow to the accuracy JAX measured
    from netdsl.keras.training import load_data

    model = netdsl.check(TINY)
    data = load_data(model)
    net = keras.models.load_model(jax_run / "model.keras")
    scores = net.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert scores["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-4)
