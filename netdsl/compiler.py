"""Checked graph to ``keras.Model``: with :mod:`netdsl.training`, the only modules that import TensorFlow.

Every node of the checked graph becomes the Keras layer its declaration builds; arguments that
reference other components (``l2(0.01)``, ``adam(...)``) are built by the declarations the
checker resolved them to. After building, every layer's output shape and parameter count is
compared with what its plugin's shape rule said, so a wrong rule is an error naming the plugin.
"""

from __future__ import annotations

import os
from typing import Any

from .components import Ref
from .errors import NetdslPluginError, NetdslTrainingError
from .graph import CheckedModel, Node, format_shape

__all__ = ["build", "materialise", "import_keras", "verify_shapes", "NORMALIZE_LAYER"]

#: the name of the Normalization layer ``normalize: true`` puts before the network; training
#: adapts it on the training data (:func:`netdsl.training.adapt_normalization`)
NORMALIZE_LAYER = "normalize"


def import_keras() -> Any:
    """Import Keras (TensorFlow backend) quietly, or explain how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras  # noqa: PLC0415
    except ImportError as e:
        raise NetdslTrainingError(
            f"TensorFlow is needed to build and train models, and it is not installed ({e})",
            help="pip install 'netdsl[cpu]'  (or 'netdsl[gpu]' for the CUDA build on Linux)",
            code="NDL301") from None
    return keras


def materialise(value: Any) -> Any:
    """A bound argument as Keras takes it: references are built, tuples stay tuples."""
    if isinstance(value, Ref):
        component = value.component
        if component is None or component.build is None:
            raise NetdslTrainingError(f"{value.kind} `{value.name}` cannot be built", code="NDL302")
        return component.build(**{k: materialise(v) for k, v in value.args})
    if isinstance(value, list):
        return [materialise(v) for v in value]
    return value


def _layer(node: Node) -> Any:
    component = node.component
    if component is None or component.build is None:
        raise NetdslTrainingError(f"layer `{node.layer}` has no build function", code="NDL302")
    kwargs = {k: materialise(v) for k, v in node.args}
    if node.inner is not None:
        kwargs["layer"] = _layer(node.inner)
    try:
        return component.build(**kwargs)
    except NetdslTrainingError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin's build error is named, not a traceback
        raise NetdslPluginError(
            f"layer `{node.layer}` ({node.provider}) failed to build: {type(exc).__name__}: {exc}",
            node.span, code="NDL206") from None


def build(model: CheckedModel, *, compile: bool = True, verify: bool = True, **compile_options: Any) -> Any:
    """The Keras functional model for a checked model, compiled with its loss, optimizer and
    metrics; ``compile_options`` (``steps_per_execution``, ``jit_compile``) go to ``compile``.
    ``verify`` compares every layer with its shape rule (:func:`verify_shapes`)."""
    keras = import_keras()
    inputs = keras.Input(shape=tuple(model.input_shape))
    first = inputs
    if model.settings["normalize"]:
        first = keras.layers.Normalization(axis=-1, name=NORMALIZE_LAYER)(inputs)
    tensors: list[Any] = []
    layers: list[Any] = []
    for node in model.nodes:
        sources = [first if i < 0 else tensors[i] for i in node.inputs] or [first]
        layer = _layer(node)
        component = node.component
        merge = component is not None and (component.merge or component.wrapper == "chain")
        tensors.append(layer(sources if merge else sources[0]))
        layers.append(layer)
    outputs = tensors[-1] if tensors else first
    net = keras.Model(inputs, outputs, name=_model_name(model))
    if verify:
        verify_shapes(model, layers, tensors)
    if compile:
        settings = model.settings
        net.compile(
            optimizer=materialise(settings["optimizer"]),
            loss=materialise(settings["loss"]),
            metrics=[materialise(m) for m in settings["metrics"]],
            **compile_options,
        )
    return net


def verify_shapes(model: CheckedModel, layers: list[Any], tensors: list[Any]) -> None:
    """Every node's output shape and parameter count, as its plugin's rule said, against the
    Keras layer built from it; a disagreement is an error naming the plugin and the layer."""
    for node, layer, tensor in zip(model.nodes, layers, tensors):
        built_shape = tuple(tensor.shape[1:])
        built_params = int(layer.count_params())
        if built_shape == tuple(node.output_shape) and built_params == node.params:
            continue
        raise NetdslPluginError(
            f"the shape rule of `{node.layer}` ({node.provider or 'unknown plugin'}) disagrees with "
            f"Keras: it says {format_shape(node.output_shape)} and {node.params:,} parameters, Keras "
            f"built {format_shape(built_shape)} and {built_params:,}", node.span,
            label="shape rule disagrees", code="NDL208",
            help="fix the layer's `infer` in its plugin; netdsl.testing.assert_layer_matches_keras "
                 "checks a rule against Keras")


def _model_name(model: CheckedModel) -> str:
    name = os.path.splitext(os.path.basename(model.program.filename or "netdsl"))[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "netdsl"
