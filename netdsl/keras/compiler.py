"""Checked graph to ``keras.Model``: with :mod:`netdsl.keras.training`, the only modules that import TensorFlow.

Every node of the checked graph becomes the Keras layer its declaration builds; arguments that
reference other components (``l2(0.01)``, ``adam(...)``) are built by the declarations the
checker resolved them to. After building, every layer's output shape and parameter count is
compared with what its plugin's shape rule said, so a wrong rule is an error naming the plugin.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

from ..checking.graph import Node, format_shape
from ..checking.plan import CheckedModel
from ..errors import NetdslError, NetdslPluginError, NetdslTrainingError
from ..vocab.components import Activation, Callback, Ref, Schedule
from .runtime import import_keras

__all__ = [
    "NORMALIZE_LAYER",
    "build",
    "build_layers",
    "keras_name",
    "materialise",
    "total_steps",
    "verify_shapes",
]

#: the name of the Normalization layer ``normalize: true`` puts before the network; training
#: adapts it on the training data (:func:`netdsl.keras.training.adapt_normalization`)
NORMALIZE_LAYER = "normalize"


def total_steps(model: CheckedModel, train_examples: int | None = None) -> int:
    """Optimizer steps of the whole run, by the plan's one rule (:func:`netdsl.plan.run_steps`):
    for the examples loaded, else the plan's figure for the described dataset, else 1 batch."""
    if train_examples is not None:
        return model.steps_for(train_examples)
    return model.total_steps or model.steps_for(model.settings.batch_size)


def materialise(value: Any, steps: int | None = None) -> Any:
    """A bound argument as Keras takes it: references are built, tuples stay tuples. A schedule
    that ``uses_steps`` is given ``total_steps=steps``."""
    if isinstance(value, Ref):
        component = value.component
        if component is None or component.build is None:
            raise NetdslTrainingError(
                f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) "
                "has no build function",
                code="NDL302",
            )
        kwargs = {k: materialise(v, steps) for k, v in value.args}
        if isinstance(component, Schedule) and component.uses_steps:
            kwargs["total_steps"] = steps or 1
        try:
            return component.build(**kwargs)
        except NetdslError:
            raise
        except (ValueError, TypeError) as exc:
            if isinstance(component, (Schedule, Callback)):  # arguments Keras refuses together
                raise NetdslTrainingError(
                    f"{value.kind} `{value.name}`: {exc}", code="NDL302"
                ) from None
            raise NetdslPluginError(
                f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) failed to build: "
                f"{type(exc).__name__}: {exc}",
                code="NDL206",
            ) from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's build error is named
            raise NetdslPluginError(
                f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) failed to build: "
                f"{type(exc).__name__}: {exc}",
                code="NDL206",
            ) from None
    if isinstance(value, list):
        return [materialise(v, steps) for v in value]
    return value


def _layer(node: Node) -> Any:
    component = node.component
    if component is None or component.build is None:
        raise NetdslTrainingError(f"layer `{node.layer}` has no build function", code="NDL302")
    kwargs = {k: materialise(v) for k, v in node.args}
    if node.inner is not None:
        kwargs["layer"] = _layer(node.inner)
    after = _shaping_activation(node)
    if after is not None:
        kwargs["activation"] = None  # Keras's layers assume their activation keeps the shape
    try:
        built = component.build(**kwargs)
    except NetdslError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's build error is named, not a traceback
        raise NetdslPluginError(
            f"layer `{node.layer}` ({node.provider}) failed to build: {type(exc).__name__}: {exc}",
            node.span,
            code="NDL206",
        ) from None
    keras = import_keras()
    if not isinstance(built, keras.layers.Layer):  # the contract: `build` returns a Keras layer
        raise NetdslPluginError(
            f"layer `{node.layer}` ({node.provider}) built {_short(built)}, not a Keras layer",
            node.span,
            label="plugin error",
            code="NDL206",
            help="a layer's `build` must return a keras.layers.Layer; this is a bug in the "
            "plugin that provides the layer: report it there",
        )
    return keras.Sequential([built, after]) if after is not None else built


def _short(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, with its type (a plugin may return anything)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a plugin's object whose repr fails
        text = "?"
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{type(value).__name__} {text}"


def _shaping_activation(node: Node) -> Any:
    """The Keras layer for a node's activation when that activation changes the shape (``glu``):
    it runs as its own layer after the node's, so Keras sees the shape it really gives."""
    ref = node.kwargs.get("activation")
    if not isinstance(ref, Ref):
        return None
    component = ref.component
    if not isinstance(component, Activation) or component.shape is None or component.build is None:
        return None
    return component.build(**ref.kwargs)


def build(
    model: CheckedModel,
    *,
    compile: bool = True,
    verify: bool = True,
    train_examples: int | None = None,
    **compile_options: Any,
) -> Any:
    """The Keras functional model for a checked model, compiled with its loss, optimizer and
    metrics; ``compile_options`` (``steps_per_execution``, ``jit_compile``) go to ``compile``.
    ``verify`` compares every layer with its shape rule (:func:`verify_shapes`);
    ``train_examples`` sizes schedules that decay over the run (:func:`total_steps`)."""
    keras = import_keras(model.settings.backend)
    from .saving import model_components, register_custom_objects

    register_custom_objects(model_components(model))  # saved under names load_model finds
    inputs, layers, tensors = build_layers(model)
    if model.is_graph:  # named inputs and outputs: dicts by name, as the data gives them
        outputs: Any = {o.name: tensors[o.node] for o in model.outputs}
    else:
        outputs = tensors[-1] if tensors else inputs
    net = keras.Model(inputs, outputs, name=_model_name(model))
    if verify:
        verify_shapes(model, layers, tensors)
    if compile:
        settings = model.settings
        net.compile(
            optimizer=materialise(settings.optimizer, total_steps(model, train_examples)),
            **_compile_targets(model),
            **compile_options,
        )
    return net


def _compile_targets(model: CheckedModel) -> dict[str, Any]:
    """``compile``'s loss and metrics (and for a graph, each per output by name, with the
    loss weights)."""
    settings = model.settings
    if not model.is_graph:
        return {
            "loss": materialise(settings.loss),
            "metrics": [materialise(m) for m in settings.metrics or ()],
        }
    return {
        "loss": {o.name: materialise(o.loss) for o in model.outputs},
        "metrics": {o.name: [materialise(m) for m in o.metrics] for o in model.outputs},
        "loss_weights": {o.name: o.loss_weight for o in model.outputs},
    }


def build_layers(model: CheckedModel) -> tuple[Any, list[Any], list[Any]]:
    """The Keras input, and every node's layer and output tensor, in node order (what
    :func:`build` joins into a model; tests also run real data through the tensors)."""
    keras = import_keras()
    if model.is_graph:
        return _graph_layers(model)
    inputs = keras.Input(shape=tuple(model.input_shape))
    first = inputs
    if model.data.columns:  # a typed table: one raw input per column, encoded in the model
        from .features import encode

        inputs, first = encode(model.data.columns)
    elif model.settings.normalize:
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
    return inputs, layers, tensors


def _graph_layers(model: CheckedModel) -> tuple[Any, list[Any], list[Any]]:
    """A graph's named Keras inputs (a dict), and every node's layer and tensor: a node that
    ``shares`` another's layer calls that very layer again (one set of weights)."""
    keras = import_keras()
    if model.data.columns:  # a typed table: raw columns in, routed columns and `x` encoded
        from .features import graph_columns

        inputs, by_name = graph_columns(model.data.columns, [i.name for i in model.inputs])
        by_ref = {i.node: by_name[i.name] for i in model.inputs}
    else:  # (`check` refuses `normalize` for a graph)
        inputs = {i.name: keras.Input(shape=tuple(i.shape), name=i.name) for i in model.inputs}
        by_ref = {i.node: inputs[i.name] for i in model.inputs}
    tensors: list[Any] = []
    layers: list[Any] = []
    for node in model.nodes:
        sources = [by_ref[i] if i < 0 else tensors[i] for i in node.inputs]
        layer = layers[node.shares] if node.shares is not None else _layer(node)
        component = node.component
        merge = component is not None and (component.merge or component.wrapper == "chain")
        tensors.append(layer(sources if merge else sources[0]))
        layers.append(layer)
    return inputs, layers, tensors


def verify_shapes(model: CheckedModel, layers: list[Any], tensors: list[Any]) -> None:
    """Every node's output shape and parameter count, as its plugin's rule said, against the
    Keras layer built from it; a disagreement is an error naming the plugin and the layer."""
    for node, layer, tensor in zip(model.nodes, layers, tensors):
        built_shape = tuple(tensor.shape[1:])
        built_params = int(layer.count_params()) if node.shares is None else 0  # counted once
        if built_shape == tuple(node.output_shape) and built_params == node.params:
            continue
        raise NetdslPluginError(
            f"the shape rule of `{node.layer}` ({node.provider or 'unknown plugin'}) disagrees with "
            f"Keras: it says {format_shape(node.output_shape)} and {node.params:,} parameters, Keras "
            f"built {format_shape(built_shape)} and {built_params:,}",
            node.span,
            label="shape rule disagrees",
            code="NDL208",
            help="fix the layer's `infer` in its plugin; netdsl.testing.assert_layer_matches_keras "
            "checks a rule against Keras",
        )


def keras_name(filename: str | None, fallback: str = "netdsl") -> str:
    """A model or scope name every backend accepts, from any file name a file system allows:
    TensorFlow's root scopes take ASCII letters, digits and ``_`` and must not start with
    ``_``, so accents are dropped (``modèle`` -> ``modele``), anything else becomes ``_``,
    edge ``_`` go (``<stdin>``, ``_draft``), and a name not starting with a letter is
    prefixed with ``fallback`` (which is also the name when nothing is left)."""
    stem = os.path.splitext(os.path.basename(filename or ""))[0]
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    name = re.sub(r"[^A-Za-z0-9_]+", "_", plain).strip("_")
    if not name:
        return fallback
    return name if name[0].isalpha() else f"{fallback}_{name}"


def _model_name(model: CheckedModel) -> str:
    return keras_name(model.program.filename)
