"""Reusing trained networks: ``from_run`` (shapes from the run folder without TensorFlow,
refusals at the span, frozen and trainable weights) and the class filter of ``mnist``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from datafiles import write_idx_folder

import netdsl
from netdsl.errors import NetdslError
from netdsl.vocab.components import DataRequest
from netdsl.vocab.registry import load_registry
from netdsl_builtins.keras_datasets import MNIST, keep_classes

REG = load_registry(third_party=False)
EARLIER = (
    "dataset: synthetic\ninput: 12\n"
    "dense 16 relu -> dropout 0.1 -> dense 8 relu -> dense 10 softmax\n"
)


def _info(input_shape: list[int]) -> dict[str, object]:
    return {
        "input_shape": input_shape,
        "target": {"kind": "classes", "num_classes": 10, "shape": []},
        "train_size": 64,
        "class_names": [],
    }


def _folder(root: Path, source: str = EARLIER, keras: ModuleType | None = None) -> Path:
    """A run folder as `netdsl run` leaves it: model.net, data.json and model.keras (a real
    saved model when ``keras`` is given, else a placeholder ``check`` never opens)."""
    folder = root / "runs" / "earlier"
    folder.mkdir(parents=True)
    (folder / "model.net").write_text(source)
    (folder / "data.json").write_text(json.dumps({"info": _info([12])}))
    if keras is None:
        (folder / "model.keras").write_bytes(b"not read by check")
    else:
        netdsl.build(netdsl.check(source, REG)).save(folder / "model.keras")
    return folder


@pytest.fixture
def in_tmp(tmp_path: Path) -> Path:
    """The test runs in ``tmp_path`` (run folders are found from the current directory)."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path  # type: ignore[misc]
    finally:
        os.chdir(old)


@pytest.mark.parametrize(
    ("upto", "shape", "params"),
    [
        ("dense", (16,), 12 * 16 + 16),
        ("dropout", (16,), 12 * 16 + 16),
        ("dense_1", (8,), 12 * 16 + 16 + 16 * 8 + 8),
        (None, (10,), 12 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10),
    ],
    ids=["dense", "dropout", "dense_1", "all"],
)
def test_check_knows_the_earlier_layers(
    in_tmp: Path, upto: str | None, shape: tuple[int, ...], params: int
) -> None:
    _folder(in_tmp)
    where = f', upto="{upto}"' if upto else ""
    model = netdsl.check(
        f'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier"{where}) -> dense 10 softmax', REG
    )
    node = model.nodes[0]
    assert (tuple(node.output_shape), node.params) == (shape, params)


def _refusal(source: str) -> tuple[str, int]:
    with pytest.raises(NetdslError) as caught:
        netdsl.check(source, REG)
    err = caught.value.errors[0]
    assert err.span is not None
    return err.message, err.span.column


def test_missing_folder_is_refused_at_the_path(in_tmp: Path) -> None:
    message, column = _refusal(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/none") -> dense 10 softmax'
    )
    assert "there is no run folder at runs/none" in message
    assert column == len('from_run("')


def test_incomplete_folder_names_what_it_lacks(in_tmp: Path) -> None:
    folder = _folder(in_tmp)
    (folder / "model.keras").unlink()
    message, _ = _refusal(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier") -> dense 10 softmax'
    )
    assert "incomplete: it has no model.keras (the trained weights)" in message


def test_unknown_layer_lists_the_names(in_tmp: Path) -> None:
    _folder(in_tmp)
    source = (
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier", upto="dense_7") '
        "-> dense 10 softmax"
    )
    message, column = _refusal(source)
    assert "no layer `dense_7`; its layers are dense, dropout, dense_1, dense_2" in message
    assert column == source.splitlines()[2].index("upto") + 1


def test_other_input_is_refused(in_tmp: Path) -> None:
    _folder(in_tmp)
    message, _ = _refusal(
        'dataset: synthetic\ninput: 20\nfrom_run("runs/earlier") -> dense 10 softmax'
    )
    assert "trained on inputs of 12, this one gives 20" in message


def test_earlier_program_that_no_longer_checks(in_tmp: Path) -> None:
    folder = _folder(in_tmp)
    (folder / "model.net").write_text("dataset: synthetic\ninput: 12\ndense 16 relu -> dens 10")
    message, _ = _refusal(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier") -> dense 10 softmax'
    )
    assert "does not check" in message


@pytest.mark.slow
@pytest.mark.parametrize("trainable", [False, True], ids=["frozen", "trainable"])
def test_weights_are_the_earlier_ones_frozen_or_not(in_tmp: Path, trainable: bool) -> None:
    keras = pytest.importorskip("keras")
    folder = _folder(in_tmp, keras=keras)
    earlier = keras.saving.load_model(folder / "model.keras")
    flag = "true" if trainable else "false"
    model = netdsl.check(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier", upto="dense_1", '
        f"trainable={flag}) -> dense 10 softmax",
        REG,
    )
    net = netdsl.build(model)  # verify_shapes: the checker's figures against the loaded layers
    x = np.random.default_rng(0).normal(size=(64, 12)).astype("float32")
    reused = net.layers[1]
    before = [w.copy() for w in reused.get_weights()]
    first = earlier.layers[1].get_weights()
    np.testing.assert_array_equal(before[0], first[0])  # the trained weights, not fresh ones
    net.fit(x, np.eye(10)[np.arange(64) % 10], epochs=1, verbose=0)
    after = reused.get_weights()
    same = all(np.array_equal(a, b) for a, b in zip(before, after))
    assert same is (not trainable)


# --- mnist(classes=[...]) ----------------------------------------------------------------------


def test_keep_classes_renumbers_in_the_order_given() -> None:
    x = np.arange(8)
    y = np.array([0, 5, 6, 9, 5, 1, 6, 7], dtype=np.uint8)
    kx, ky = keep_classes(x, y, [6, 5])
    assert kx.tolist() == [1, 2, 4, 6]
    assert ky.tolist() == [1, 0, 1, 0]
    assert ky.dtype == y.dtype


def test_mnist_classes_describe_and_load(tmp_path: Path) -> None:
    arrays = write_idx_folder(tmp_path / "m", n_train=40, n_test=20)
    request = DataRequest("mnist", {"path": None, "classes": [5, 6, 7, 8, 9]}, str(tmp_path / "m"))
    info = MNIST.describe(request)
    assert info.target.num_classes == 5 and info.class_names == ("5", "6", "7", "8", "9")
    assert info.train_size == 5421 + 5918 + 6265 + 5851 + 5949  # the real MNIST's counts
    x_train, y_train, _, _ = MNIST.load(request, info)  # type: ignore[misc]
    kept = arrays["y_train"] >= 5
    assert len(x_train) == kept.sum() and set(y_train.tolist()) <= set(range(5))
    assert (y_train == arrays["y_train"][kept] - 5).all()


def test_mnist_classes_refuses_a_repeat() -> None:
    with pytest.raises(NetdslError) as caught:
        netdsl.check("dataset: mnist(classes=[1, 1])\nflatten -> dense 10 softmax", REG)
    assert "a class is listed twice" in caught.value.errors[0].message


def test_a_run_name_means_its_newest_run_folder(in_tmp: Path) -> None:
    folder = _folder(in_tmp)
    folder.rename(in_tmp / "runs" / "earlier-20250101-120000")
    older = _folder(in_tmp, source=EARLIER.replace("dense 8 relu", "dense 4 relu"))
    older.rename(in_tmp / "runs" / "earlier-20240101-120000")
    model = netdsl.check(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier", upto="dense_1") '
        "-> dense 10 softmax",
        REG,
    )
    assert tuple(model.nodes[0].output_shape) == (8,)  # the 2025 run, not the 2024 one


@pytest.mark.slow
def test_unfreeze_trains_the_reused_layers_from_its_epoch(in_tmp: Path) -> None:
    keras = pytest.importorskip("keras")
    from netdsl.keras.compiler import materialise

    _folder(in_tmp, keras=keras)
    model = netdsl.check(
        "dataset: synthetic\ninput: 12\ncallbacks: [unfreeze(2, learning_rate=0.01)]\n"
        'from_run("runs/earlier", upto="dense_1") -> dense 10 softmax',
        REG,
    )
    net = netdsl.build(model)
    (callback,) = [materialise(c) for c in model.settings.callbacks or ()]
    reused = net.layers[1]
    start = [w.copy() for w in reused.get_weights()]
    seen: list[bool] = []

    class Watch(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            now = reused.get_weights()
            seen.append(all(np.array_equal(a, b) for a, b in zip(start, now)))

    x = np.random.default_rng(1).normal(size=(64, 12)).astype("float32")
    net.fit(x, np.eye(10)[np.arange(64) % 10], epochs=3, verbose=0, callbacks=[callback, Watch()])
    assert seen == [True, False, False]  # frozen in epoch 1, trained from epoch 2
    assert float(net.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_emit_loads_and_cuts_the_earlier_model(in_tmp: Path) -> None:
    from netdsl.keras.emit import emit_program

    folder = _folder(in_tmp)
    model = netdsl.check(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier", upto="dense_1") '
        "-> dense 10 softmax",
        REG,
    )
    source = emit_program(model)
    compile(source, "emitted.py", "exec")
    call = f'from_run("{folder.resolve()}",2,False'  # dense_1 is the third layer
    assert call in "".join(source.split())


@pytest.mark.slow
def test_a_reused_attention_model_loads_back_in_a_fresh_interpreter(in_tmp: Path) -> None:
    keras = pytest.importorskip("keras")
    from netdsl.keras.saving import objects_json, verify_reload

    attention = (
        "dataset: synthetic\ninput: 12\n"
        "embedding 50 8 -> attention 2 -> global_avgpool1d -> dense 10 softmax\n"
    )
    _folder(in_tmp, source=attention, keras=keras)
    model = netdsl.check(
        'dataset: synthetic\ninput: 12\nfrom_run("runs/earlier", upto="global_avgpool1d") '
        "-> dense 10 softmax",
        REG,
    )
    net = netdsl.build(model)
    out = in_tmp / "new"
    out.mkdir()
    net.save(out / "model.keras")
    (out / "objects.json").write_text(objects_json(model))
    assert verify_reload(out / "model.keras", net) >= 0  # raises NDL310 when a class is missing
