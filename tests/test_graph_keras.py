"""Graph programs built by Keras's functional API: each example beside a hand-written Keras
twin (the same layers, the same configs, the same parameter count), shared layers built once,
and training with several outputs (tiny data, one epoch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import EXAMPLES

import netdsl
from netdsl.keras.compiler import build
from netdsl.keras.runtime import import_keras


def _twin_unet(keras: Any) -> Any:
    L = keras.layers

    def convs(x: Any, f: int) -> Any:
        x = L.Conv2D(f, 3, activation="relu", padding="same")(x)
        return L.Conv2D(f, 3, activation="relu", padding="same")(x)

    x = keras.Input((28, 28, 1), name="x")
    e1 = convs(x, 16)
    e2 = convs(L.MaxPooling2D(2)(e1), 32)
    bottom = convs(L.MaxPooling2D(2)(e2), 64)
    d2 = convs(L.Concatenate()([L.UpSampling2D(2)(bottom), e2]), 32)
    d1 = convs(L.Concatenate()([L.UpSampling2D(2)(d2), e1]), 16)
    return keras.Model({"x": x}, {"y": L.Conv2D(1, 1, activation="sigmoid")(d1)})


def _twin_siamese(keras: Any) -> Any:
    L = keras.layers
    flat, d1, d2 = L.Flatten(), L.Dense(128, activation="relu"), L.Dense(64, activation="relu")
    a, b = keras.Input((28, 28, 1), name="a"), keras.Input((28, 28, 1), name="b")
    ta, tb = d2(d1(flat(a))), d2(d1(flat(b)))
    h = L.Dense(64, activation="relu")(L.Concatenate()([ta, tb]))
    return keras.Model({"a": a, "b": b}, {"same": L.Dense(1, activation="sigmoid")(h)})


def _twin_multitask(keras: Any) -> Any:
    L = keras.layers
    x = keras.Input((28, 28, 1), name="x")
    h = L.Conv2D(32, 3, activation="relu")(x)
    h = L.Dense(64, activation="relu")(L.Flatten()(L.MaxPooling2D(2)(h)))
    digit = L.Dense(10, activation="softmax")(h)
    odd = L.Dense(1, activation="sigmoid")(h)
    return keras.Model({"x": x}, {"digit": digit, "odd": odd})


TWINS = {"unet": _twin_unet, "siamese": _twin_siamese, "multitask": _twin_multitask}
PARAMS = {"unet": 117_985, "siamese": 117_057, "multitask": 347_211}
#: the config keys a layer is compared on (not its name)
KEYS = ("filters", "kernel_size", "strides", "padding", "units", "activation", "pool_size", "size")


def _configs(net: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for layer in net.layers:
        config = layer.get_config()
        out.append((type(layer).__name__, {k: config[k] for k in KEYS if k in config}))
    return out


@pytest.mark.parametrize("name", list(TWINS))
def test_example_equals_its_keras_twin(name: str) -> None:
    path: Path = EXAMPLES / f"{name}.net"
    model = netdsl.check(path.read_text(), filename=path.name)
    assert model.total_params == PARAMS[name]
    keras = import_keras()
    ours, theirs = build(model, compile=False), TWINS[name](keras)
    assert int(ours.count_params()) == int(theirs.count_params()) == PARAMS[name]
    assert sorted(_configs(ours), key=repr) == sorted(_configs(theirs), key=repr)
    assert sorted(ours.input) == sorted(theirs.input)  # the same named inputs
    assert sorted(ours.output) == sorted(theirs.output)  # the same named outputs


def test_shared_layers_are_one_layer_called_twice() -> None:
    model = netdsl.check((EXAMPLES / "siamese.net").read_text())
    net = build(model, compile=False)
    dense = [layer for layer in net.layers if type(layer).__name__ == "Dense"]
    assert len(dense) == 4  # the tower's two, once each, and the head's two
    assert sum(len(layer._inbound_nodes) for layer in dense) == 6


@pytest.mark.slow
def test_two_outputs_train_and_report_each(tmp_path: Path) -> None:
    from netdsl.keras.training import evaluate, load_data, train

    rng = np.random.default_rng(0)
    data = tmp_path / "multi.npz"
    np.savez(
        data,
        x=rng.random((48, 6)).astype("float32"),
        y_digit=rng.integers(0, 3, 48),
        y_odd=rng.integers(0, 2, 48),
    )
    src = (
        f'dataset: npz("{data}")\nepochs: 1\nseed: 1\nloss_weights: {{digit: 1.0, odd: 0.5}}\n'
        "trunk = dense 8 relu\noutput digit = trunk -> dense 3 softmax\n"
        "output odd = trunk -> dense 1 sigmoid\n"
    )
    model = netdsl.check(src)
    loaded = load_data(model)
    net, history, _ = train(model, loaded, verbose=0)
    logged = set(history[0])
    assert {"digit_accuracy", "odd_accuracy", "digit_loss", "odd_loss", "loss"} <= logged
    scores = evaluate(net, model, loaded)
    assert scores["loss"] == pytest.approx(
        scores["digit_loss"] + 0.5 * scores["odd_loss"], rel=1e-3
    )


#: the examples on tiny data: the same network, a few examples
TINY = {
    "unet": ("train_size=6000, test_size=1000", "train_size=32, test_size=16"),
    "siamese": ("train_size=30000, test_size=10000", "train_size=32, test_size=16"),
    "multitask": ("task=parity)", "task=parity, train_size=32, test_size=16)"),
}


@pytest.mark.slow
def test_emitted_graph_programs_build_and_train_like_netdsl(tmp_path: Path) -> None:
    """``netdsl emit`` of each graph example: the plain Keras program builds the same layers
    (configs, parameter count) and trains to the same weights as netdsl (two seeded epochs)."""
    import json
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from test_emit import _COMPARE, _idx

    from netdsl.keras.emit import emit_program

    mnist = tmp_path / "mnist"
    mnist.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 48), ("t10k", 16)):
        _idx(mnist / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _idx(mnist / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    jobs = []
    for name, (old, new) in TINY.items():
        text = (EXAMPLES / f"{name}.net").read_text()
        assert old in text
        spec = tmp_path / f"{name}.net"
        spec.write_text(text.replace(old, new))
        program = tmp_path / f"{name}.py"
        program.write_text(emit_program(netdsl.check(spec.read_text(), filename=spec.name)))
        jobs.append([name, str(program), str(spec), spec.name, str(mnist)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETDSL_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins"), str(ROOT / "tests")]),
        TF_CPP_MIN_LOG_LEVEL="3",
        KERAS_BACKEND="tensorflow",
        CUDA_VISIBLE_DEVICES="",
    )
    proc = subprocess.run(
        [sys.executable, "-c", _COMPARE, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=tmp_path,
    )
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULTS@@")]
    assert proc.returncode == 0 and marker, proc.stdout[-3000:] + proc.stderr[-5000:]
    results = json.loads(marker[0].removeprefix("@@RESULTS@@"))
    for name, row in results.items():
        assert len(set(row["params"])) == 1 and row["params"][0] == PARAMS[name], (name, row)
        assert row["configs"] and row["weights"] and row["changed"], (name, row)
        assert row["compile"] == [True, True], (name, row)
        assert row["max_weight_diff"] < 1e-5, (name, row)


@pytest.mark.slow
def test_netdsl_run_of_a_graph_writes_per_output_metrics(tmp_path: Path) -> None:
    """``netdsl run`` of a two-input, two-output graph: the run folder's metrics.json reports
    each output's loss and metric by name, model.net checks again to the same plan, and the
    saved model.keras reloads with its named inputs."""
    import json

    from click.testing import CliRunner

    from netdsl.tools.cli import main

    rng = np.random.default_rng(2)
    np.savez(
        tmp_path / "d.npz",
        x_img=rng.random((40, 4, 4, 1)).astype("float32"),
        x_tab=rng.random((40, 3)).astype("float32"),
        y_kind=rng.integers(0, 3, 40),
        y_flag=rng.integers(0, 2, 40),
    )
    program = tmp_path / "g.net"
    program.write_text(
        'dataset: npz("d.npz")\nepochs: 1\nseed: 2\nloss_weights: {kind: 1.0, flag: 0.5}\n'
        "shared h = dense 4 relu\ni = img -> flatten -> dense 4 -> h\nt = tab -> dense 4 relu -> h\n"
        "both = [i | t] concat\noutput kind = both -> dense 3 softmax\n"
        "output flag = both -> dense 1 sigmoid\n"
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(program), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    test = json.loads((folder / "metrics.json").read_text())["test"]
    assert {"kind_accuracy", "flag_accuracy", "kind_loss", "flag_loss", "loss"} <= set(test)
    again = netdsl.check((folder / "model.net").read_text(), filename=str(folder / "model.net"))
    assert again == netdsl.check(program.read_text(), filename=str(program))
    net = netdsl.load_model(folder / "model.keras", compile=False)
    x = {"img": np.zeros((2, 4, 4, 1), "float32"), "tab": np.zeros((2, 3), "float32")}
    assert sorted(net(x)) == ["flag", "kind"]
