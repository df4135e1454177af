"""Keras Applications backbones: the checker's table against Keras, weights from a file or
Keras's cache (no internet), and each refusal at its span."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

import netdsl
from netdsl.errors import NetdslError
from netdsl.vocab.registry import load_registry
from netdsl_builtins.backbones import BACKBONES

REG = load_registry(third_party=False)


def _check(step: str, shape: str = "96x96x3") -> netdsl.CheckedModel:  # type: ignore[name-defined]
    return netdsl.check(
        f"dataset: synthetic\ninput: {shape}\n{step} -> flatten -> dense 10 softmax", REG
    )


@pytest.mark.parametrize(
    ("step", "shape", "out", "params"),
    [
        ("resnet50 weights=none", "96x96x3", (3, 3, 2048), 23_587_712),
        ("resnet50 weights=none", "75x75x3", (3, 3, 2048), 23_587_712),
        ("mobilenet_v2 weights=none avg", "64x64x3", (1280,), 2_257_984),
        ("efficientnet_b0 weights=none", "33x47x3", (2, 2, 1280), 4_049_571),
        ("vgg16 weights=none max", "32x32x3", (512,), 14_714_688),
        ("vgg16 weights=none", "75x75x3", (2, 2, 512), 14_714_688),
        (
            "mobilenet_v2 weights=none include_top=true classes=7",
            "224x224x3",
            (7,),
            2_257_984 + 1281 * 7,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_table_without_tensorflow(step: str, shape: str, out: tuple, params: int) -> None:
    node = _check(step, shape).nodes[0]
    assert (tuple(node.output_shape), node.params) == (out, params)


def _refused(step: str, shape: str = "96x96x3") -> tuple[str, str, int]:
    with pytest.raises(NetdslError) as caught:
        _check(step, shape)
    err = caught.value.errors[0]
    assert err.span is not None
    return err.code, err.message, err.span.column


@pytest.mark.parametrize(
    ("step", "shape", "words", "column"),
    [
        ("vgg16 weights=none", "16x16x3", "needs images of at least 32x32", 1),
        ("resnet50 weights=none", "64x64x1", "takes colour images", 1),
        ("resnet50 weights=none include_top=true", "96x96x3", "its input is 224x224x3", 23),
        ('mobilenet_v2 weights="no/such.h5"', "96x96x3", "no weights file at no/such.h5", 14),
    ],
    ids=["too small", "grey", "top size", "no file"],
)
def test_refused_at_the_span(step: str, shape: str, words: str, column: int) -> None:
    _, message, at = _refused(step, shape)
    assert words in message and at == column


def test_missing_imagenet_weights_say_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(NetdslError) as caught:
        _check("efficientnet_b0 avg")
    err = caught.value.errors[0]
    looked = tmp_path / "models" / "efficientnetb0_notop.h5"
    assert f"looked for {looked}" in err.message
    assert "keras.applications.EfficientNetB0(weights='imagenet', include_top=False)" in (
        err.help or ""
    )


# --- against Keras -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    return pytest.importorskip("keras")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BACKBONES))
def test_table_matches_keras(keras: ModuleType, name: str) -> None:
    backbone = BACKBONES[name]
    make = getattr(keras.applications, backbone.keras_class)
    for side in (32, 75):
        model = _check(f"{name} weights=none", f"{side}x{side + 6}x3")
        reference = make(weights=None, include_top=False, input_shape=(side, side + 6, 3))
        node = model.nodes[0]
        assert tuple(node.output_shape) == tuple(reference.output.shape[1:])
        assert node.params == reference.count_params()
    if name != "vgg16":  # VGG16's top alone is 120 M weights; its sizes are in the table test
        top = make(weights=None, include_top=True, classes=7)
        node = _check(f"{name} weights=none include_top=true classes=7", "224x224x3").nodes[0]
        assert node.params == top.count_params()


def _legacy_h5(keras: ModuleType, model: object, path: Path) -> Path:
    """Weights in the .h5 layout Keras's own application files use."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


@pytest.mark.slow
def test_weights_from_a_file_and_from_keras_cache(
    keras: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = keras.applications.MobileNetV2(weights=None, include_top=False)
    own = tmp_path / "mine.weights.h5"
    fresh.save_weights(own)
    net = netdsl.build(_check(f'mobilenet_v2 weights="{own}" avg', "64x64x3"))
    backbone = net.layers[1]
    assert backbone.trainable is False  # frozen by default
    for a, b in zip(backbone.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    models = tmp_path / "home" / "models"
    models.mkdir(parents=True)
    _legacy_h5(keras, fresh, models / BACKBONES["mobilenet_v2"].file_notop)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    cached = netdsl.build(_check("mobilenet_v2 avg trainable=true", "64x64x3"))
    assert cached.layers[1].trainable is True
    np.testing.assert_array_equal(cached.layers[1].get_weights()[0], fresh.get_weights()[0])


@pytest.mark.slow
def test_weights_of_another_network_are_refused(keras: ModuleType, tmp_path: Path) -> None:
    other = tmp_path / "other.weights.h5"
    keras.applications.EfficientNetB0(weights=None, include_top=False).save_weights(other)
    with pytest.raises(NetdslError) as caught:
        netdsl.build(_check(f'mobilenet_v2 weights="{other}" avg', "64x64x3"))
    assert caught.value.code == "NDL315"
    assert "does not hold weights for mobilenet_v2" in caught.value.message
