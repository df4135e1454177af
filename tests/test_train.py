"""Compile and train: equivalence with hand-written Keras, the run folder, Ctrl-C, NaN, seeds.

Small IDX files made here stand in for MNIST, so these pass on a fresh machine; the last test
trains on the real MNIST when NETDSL_MNIST or ../shared/data/mnist holds it.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from datafiles import REAL_MNIST

import netdsl
from netdsl.keras.training import load_data
from netdsl.tools.cli import main
from netdsl.vocab.registry import load_registry

pytestmark = pytest.mark.slow  # builds or trains real Keras models

keras = pytest.importorskip("keras")
REG = load_registry(third_party=False)


def _idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _learnable(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Digits a small MLP can learn: class k lights up a 4x4 patch at a place of its own."""
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(y):
        r, c = 2 + (k // 5) * 12, 2 + (k % 5) * 5
        x[i, r : r + 4, c : c + 4] = 255
    return x, y


@pytest.fixture(scope="module")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    x, y = _learnable(768, rng)
    xt, yt = _learnable(256, rng)
    _idx(folder / "train-images-idx3-ubyte.gz", x)
    _idx(folder / "train-labels-idx1-ubyte.gz", y)
    _idx(folder / "t10k-images-idx3-ubyte.gz", xt)
    _idx(folder / "t10k-labels-idx1-ubyte.gz", yt)
    return folder


# --- equivalence with the hand-written model -------------------------------------------------


def _seed_by_hand() -> keras.Model:
    """The seed article's model, written the way a person writes it."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(
                64, activation="relu", kernel_regularizer=keras.regularizers.l2(0.01)
            ),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _dense_configs(model: keras.Model) -> list[dict]:
    keep = ("units", "activation", "use_bias", "kernel_regularizer", "kernel_initializer")
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            cfg = layer.get_config()
            out.append({k: cfg[k] for k in keep})
    return out


def test_seed_spec_builds_the_seed_model() -> None:
    checked = netdsl.check("dense 64 relu l2 -> dense 10 softmax", REG)
    ours, theirs = netdsl.build(checked), _seed_by_hand()
    assert ours.count_params() == theirs.count_params() == checked.total_params == 50_890
    assert [tuple(n.output_shape) for n in checked.nodes] == [(784,), (64,), (10,)]
    assert _dense_configs(ours) == _dense_configs(theirs)
    assert ours.layers[2].kernel_regularizer.get_config() == {"l2": 0.01}
    assert type(ours.optimizer) is type(theirs.optimizer) is keras.optimizers.Adam
    assert ours.optimizer.get_config() | {"name": None} == theirs.optimizer.get_config() | {
        "name": None
    }
    assert ours.loss.get_config()["name"] == "categorical_crossentropy"


SPECS = [
    pytest.param(
        "dense 128 relu -> dropout 0.2 -> dense 10 softmax",
        [(784,), (128,), (128,), (10,)],
        id="mlp-dropout",
    ),
    pytest.param(
        "dense 64 l2(0.001) relu -> batchnorm -> dense 10 softmax",
        [(784,), (64,), (64,), (10,)],
        id="batchnorm",
    ),
    pytest.param(
        "dense 32 tanh kernel_regularizer=l1_l2(l1=0.01, l2=0.001) use_bias=false -> dense 10",
        [(784,), (32,), (10,)],
        id="l1_l2-no-bias-logits",
    ),
    pytest.param("input: 784\ndense 10 softmax", [(10,)], id="flat-input"),
    pytest.param(
        "flatten -> reshape 7x112 -> flatten -> activation relu -> dense 10 softmax",
        [(784,), (7, 112), (784,), (784,), (10,)],
        id="reshape",
    ),
    pytest.param(
        "optimizer: sgd(learning_rate=0.1, momentum=0.9, nesterov=true)\nloss: sparse_categorical_crossentropy\n"
        "dense 16 gelu -> dense 10 softmax",
        [(784,), (16,), (10,)],
        id="sgd-sparse",
    ),
]


@pytest.mark.parametrize("spec, shapes", SPECS)
def test_checker_shapes_and_params_equal_keras(spec: str, shapes: list[tuple]) -> None:
    checked = netdsl.check(spec, REG)
    net = netdsl.build(checked)
    assert [tuple(n.output_shape) for n in checked.nodes] == shapes
    layers = [layer for layer in net.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [tuple(layer.output.shape[1:]) for layer in layers] == shapes
    assert [layer.count_params() for layer in layers] == [n.params for n in checked.nodes]
    assert net.count_params() == checked.total_params


def test_optimizer_loss_and_regularizer_configs_reach_keras() -> None:
    checked = netdsl.check(
        "optimizer: sgd(learning_rate=0.1, momentum=0.9, nesterov=true)\n"
        "loss: sparse_categorical_crossentropy\ndense 16 relu l1(0.002) -> dense 10 softmax",
        REG,
    )
    net = netdsl.build(checked)
    cfg = net.optimizer.get_config()
    assert (
        type(net.optimizer),
        round(float(cfg["learning_rate"]), 6),
        cfg["momentum"],
        cfg["nesterov"],
    ) == (keras.optimizers.SGD, 0.1, 0.9, True)
    assert net.layers[2].kernel_regularizer.get_config() == pytest.approx({"l1": 0.002})
    assert checked.labels == "sparse"


def test_logits_output_gets_from_logits_loss() -> None:
    checked = netdsl.check("dense 32 relu -> dense 10", REG)
    assert dict(checked.settings["loss"].args)["from_logits"] is True
    assert dict(netdsl.check("dense 10 softmax", REG).settings["loss"].args)["from_logits"] is False


# --- netdsl run --------------------------------------------------------------------------------


def _run(args: list[str]) -> CliRunner.Result:
    return CliRunner().invoke(main, ["--no-plugins", "run", *args], catch_exceptions=False)


def test_run_trains_evaluates_and_saves_a_fresh_folder(tmp_path: Path, tiny_mnist: Path) -> None:
    spec = tmp_path / "tiny.net"
    spec.write_text(
        "# a comment the saved spec keeps\nepochs: 3\ndense 32 relu -> dense 10 softmax\n"
    )
    out = tmp_path / "runs"
    first = _run(
        [str(spec), "--data", str(tiny_mnist), "--out", str(out), "--quiet", "--batch-size", "64"]
    )
    assert first.exit_code == 0, first.output
    second = _run(
        [str(spec), "--data", str(tiny_mnist), "--out", str(out), "--quiet", "--epochs", "1"]
    )
    assert second.exit_code == 0, second.output
    folders = sorted(out.iterdir())
    assert len(folders) == 2, "a second run must never reuse the first run's folder"
    a, b = folders
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == {
            "model.keras",
            "model.net",
            "history.json",
            "history.csv",
            "metrics.json",
            "confusion.json",
            "checkpoints",
            "tensorboard",
            "data.json",
            "labels.json",
            "fingerprint.json",
            "run.lock",
            "objects.json",
        }
    record = json.loads((a / "data.json").read_text())
    assert record["dataset"]["name"] == "mnist" and record["data_path"] == str(tiny_mnist)
    assert json.loads((a / "labels.json").read_text())["classes"][7] == "7"
    metrics = json.loads((a / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs_completed"] == 3
    assert metrics["test"]["accuracy"] > 0.5, "the tiny task is learnable; the model must learn it"
    assert len(json.loads((a / "history.json").read_text())["epochs"]) == 3
    assert "batch_size: 64" in (a / "model.net").read_text()
    assert "# a comment the saved spec keeps" in (a / "model.net").read_text()
    assert "epochs: 1" in (b / "model.net").read_text()
    assert netdsl.check((a / "model.net").read_text(), REG).settings["batch_size"] == 64
    reloaded = keras.saving.load_model(a / "model.keras")
    assert reloaded.count_params() == 25_450
    assert "test accuracy" in first.output


def test_same_seed_gives_same_weights(tiny_mnist: Path) -> None:
    checked = netdsl.check(
        "epochs: 1\nseed: 3\ndense 16 relu -> dropout 0.1 -> dense 10 softmax", REG
    )
    data = load_data(checked, tiny_mnist)
    w1 = netdsl.train(checked, data, verbose=0)[0].get_weights()
    w2 = netdsl.train(checked, data, verbose=0)[0].get_weights()
    w3 = netdsl.train(checked.replace(seed=4), data, verbose=0)[0].get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(w1, w2))
    assert not all(np.array_equal(x, y) for x, y in zip(w1, w3))


def test_ctrl_c_keeps_the_finished_epochs(
    tmp_path: Path, tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdsl.run import driver

    class InterruptInEpoch3(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if epoch == 2:
                raise KeyboardInterrupt

    real_fit = driver.fit
    monkeypatch.setattr(
        driver, "fit", lambda *a, **k: real_fit(*a, **k, callbacks=[InterruptInEpoch3()])
    )
    spec = tmp_path / "m.net"
    spec.write_text("epochs: 5\ndense 16 relu -> dense 10 softmax\n")
    result = _run([str(spec), "--data", str(tiny_mnist), "--out", str(tmp_path / "runs"), "-q"])
    assert result.exit_code == 130
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (
        metrics["status"] == "stopped"
        and metrics["reason"] == "interrupt"
        and metrics["epochs_completed"] == 2
    )
    assert (folder / "STOPPED").exists() and (folder / "model.keras").exists()
    assert "interrupted after 2" in result.output


def test_nan_loss_stops_with_a_clear_error(tmp_path: Path, tiny_mnist: Path) -> None:
    spec = tmp_path / "nan.net"
    spec.write_text(
        "epochs: 4\noptimizer: sgd(learning_rate=1e30)\ndense 64 relu -> dense 10 softmax\n"
    )
    result = CliRunner().invoke(
        main,
        [
            "--no-plugins",
            "run",
            str(spec),
            "--data",
            str(tiny_mnist),
            "--out",
            str(tmp_path / "runs"),
            "-q",
        ],
    )
    assert result.exit_code == 1
    assert "error[NDL303]: the loss became NaN in epoch 1" in result.output
    assert "Traceback" not in result.output
    (folder,) = (tmp_path / "runs").iterdir()
    recorded = json.loads((folder / "metrics.json").read_text())
    assert recorded["status"] == "failed" and recorded["code"] == "NDL303"
    assert not (folder / "model.keras").exists()


def test_missing_data_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "m.net"
    spec.write_text("dense 10 softmax\n")
    result = CliRunner().invoke(
        main,
        [
            "--no-plugins",
            "run",
            str(spec),
            "--data",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 1 and "nowhere" in result.output and "Traceback" not in result.output
    assert "records it" not in result.output  # the data is read first: no run folder to record it
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# --- the real thing ------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (REAL_MNIST / "train-images-idx3-ubyte.gz").exists(), reason="real MNIST not here"
)
def test_learns_real_mnist_in_a_few_hundred_steps(tmp_path: Path) -> None:
    """CI's smoke run: 1 epoch of 500 steps (batch 120) of the seed model on the real MNIST."""
    spec = tmp_path / "seed.net"
    spec.write_text("epochs: 1\nbatch_size: 120\nseed: 1\ndense 64 relu l2 -> dense 10 softmax\n")
    result = _run([str(spec), "--data", str(REAL_MNIST), "--out", str(tmp_path / "runs"), "-q"])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.85, metrics["test"]


def test_speed_options_change_speed_not_weights_and_are_recorded(
    tmp_path: Path, tiny_mnist: Path
) -> None:
    from netdsl.keras.training import TrainOptions

    checked = netdsl.check("epochs: 2\nseed: 5\ndense 16 relu -> dense 10 softmax", REG)
    data = load_data(checked, tiny_mnist)
    one = netdsl.train(checked, data, verbose=0, options=TrainOptions(steps_per_execution=1))[0]
    many = netdsl.train(checked, data, verbose=0, options=TrainOptions(steps_per_execution=16))[0]
    assert all(np.array_equal(x, y) for x, y in zip(one.get_weights(), many.get_weights()))
    spec = tmp_path / "m.net"
    spec.write_text("epochs: 1\ndense 16 relu -> dense 10 softmax\n")
    result = _run(
        [
            str(spec),
            "--data",
            str(tiny_mnist),
            "--out",
            str(tmp_path / "runs"),
            "-q",
            "--steps-per-execution",
            "4",
            "--no-jit",
        ]
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    recorded = json.loads((folder / "metrics.json").read_text())
    assert "steps_per_execution" in json.dumps(recorded) and '"jit_compile": false' in json.dumps(
        recorded
    )
