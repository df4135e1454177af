"""Checked model to ``keras.Model``: the only module (with :mod:`netdsl.train`) that imports TensorFlow.

Every node of the checked graph becomes the Keras layer its declaration builds; arguments
that reference other components (``l2(0.01)``, ``adam(...)``) are built through the registry.
"""

from __future__ import annotations

import os
from typing import Any

from .checker import CheckedModel, Node
from .components import Ref
from .errors import NetdslTrainingError

__all__ = ["build", "materialise", "import_keras"]


def import_keras() -> Any:
    """Import Keras (TensorFlow backend) quietly, or explain how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras  # noqa: PLC0415
    except ImportError as e:
        raise NetdslTrainingError(
            f"TensorFlow is needed to build and train models, and it is not installed ({e})",
            help="pip install 'netdsl[cpu]'  (or 'netdsl[gpu]' for the CUDA build on Linux)",
            code="NDL301") from None
    return keras


def materialise(value: Any, model: CheckedModel) -> Any:
    """A bound argument as Keras takes it: references are built, tuples stay tuples."""
    if isinstance(value, Ref):
        component = model.registry.get(value.kind, value.name)
        if component is None or component.build is None:
            raise NetdslTrainingError(f"{value.kind} `{value.name}` cannot be built", code="NDL302")
        return component.build(**{k: materialise(v, model) for k, v in value.args})
    if isinstance(value, list):
        return [materialise(v, model) for v in value]
    return value


def _layer(node: Node, model: CheckedModel) -> Any:
    component = node.component or model.registry.get("layer", node.layer)
    assert component is not None and component.build is not None, node.layer
    kwargs = {k: materialise(v, model) for k, v in node.args}
    if node.inner is not None:
        kwargs["layer"] = _layer(node.inner, model)
    return component.build(**kwargs)


def build(model: CheckedModel, *, compile: bool = True, **compile_options: Any) -> Any:
    """The Keras functional model for a checked model, compiled with its loss, optimizer and
    metrics; ``compile_options`` (``steps_per_execution``, ``jit_compile``) go to ``compile``."""
    keras = import_keras()
    inputs = keras.Input(shape=tuple(model.input_shape))
    tensors: list[Any] = []
    for node in model.nodes:
        sources = [inputs if i < 0 else tensors[i] for i in node.inputs] or [inputs]
        layer = _layer(node, model)
        merge = node.component is not None and (node.component.merge or node.component.wrapper == "chain")
        tensors.append(layer(sources if merge else sources[0]))
    outputs = tensors[-1] if tensors else inputs
    net = keras.Model(inputs, outputs, name=_model_name(model))
    if compile:
        net.compile(
            optimizer=materialise(model.optimizer, model),
            loss=materialise(model.loss, model),
            metrics=[materialise(m, model) for m in model.metrics],
            **compile_options,
        )
    return net


def _model_name(model: CheckedModel) -> str:
    name = os.path.splitext(os.path.basename(model.program.filename or "netdsl"))[0]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "netdsl"
