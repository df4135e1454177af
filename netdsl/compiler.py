"""Checked graph to ``keras.Model``: with :mod:`netdsl.training`, the only modules that import TensorFlow.

Every node of the checked graph becomes the Keras layer its declaration builds; arguments that
reference other components (``l2(0.01)``, ``adam(...)``) are built by the declarations the
checker resolved them to. After building, every layer's output shape and parameter count is
compared with what its plugin's shape rule said, so a wrong rule is an error naming the plugin.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .components import Ref
from .errors import NetdslPluginError, NetdslTrainingError
from .graph import CheckedModel, Node, format_shape

__all__ = ["build", "materialise", "import_keras", "verify_shapes"]


def import_keras(backend: str | None = None) -> Any:
    """Import Keras on ``backend`` (None: ``$KERAS_BACKEND``, else TensorFlow), quietly, or
    explain how to install it. Keras fixes its backend at its first import, so asking for
    another one later in the same process is an error, not a silent switch."""
    import importlib.util  # noqa: PLC0415

    from .backends import install_hint, resolve  # noqa: PLC0415

    loaded = sys.modules.get("keras")
    if loaded is not None and hasattr(loaded, "backend"):
        current = loaded.backend.backend()
        if backend is not None and current != backend:
            raise NetdslTrainingError(
                f"Keras is already running on the {current} backend in this process; it cannot "
                f"switch to {backend}", code="NDL304",
                help="Keras fixes its backend when it is first imported: run netdsl in a new "
                     f"process (or set KERAS_BACKEND={backend} before importing Keras)")
        return loaded
    name = resolve(backend)
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    needed = "tensorflow" if name == "tensorflow" else name
    try:
        if importlib.util.find_spec(needed) is None:
            raise ImportError(f"no module named {needed!r}")
        import keras  # noqa: PLC0415
    except ImportError as e:
        what = "TensorFlow is" if name == "tensorflow" else f"The {name} backend is"
        raise NetdslTrainingError(
            f"{what} needed to build and train models, and it is not installed ({e})",
            help=install_hint(name) + ("  (or 'netdsl[gpu]' for the CUDA build on Linux)"
                                       if name == "tensorflow" else ""),
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
    keras = import_keras(model.settings["backend"])
    inputs = keras.Input(shape=tuple(model.input_shape))
    tensors: list[Any] = []
    layers: list[Any] = []
    for node in model.nodes:
        sources = [inputs if i < 0 else tensors[i] for i in node.inputs] or [inputs]
        layer = _layer(node)
        component = node.component
        merge = component is not None and (component.merge or component.wrapper == "chain")
        tensors.append(layer(sources if merge else sources[0]))
        layers.append(layer)
    outputs = tensors[-1] if tensors else inputs
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
