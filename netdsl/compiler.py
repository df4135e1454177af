"""Checked graph to ``keras.Model``: with :mod:`netdsl.training`, the only modules that import TensorFlow.

Every node of the checked graph becomes the Keras layer its declaration builds; arguments that
reference other components (``l2(0.01)``, ``adam(...)``) are built by the declarations the
checker resolved them to. After building, every layer's output shape and parameter count is
compared with what its plugin's shape rule said, so a wrong rule is an error naming the plugin.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
import unicodedata
from contextlib import contextmanager
from typing import Any, Iterator

from .components import Activation, Callback, Ref, Schedule
from .errors import NetdslError, NetdslPluginError, NetdslTrainingError
from .graph import CheckedModel, Node, format_shape

__all__ = ["build", "keras_name", "build_layers", "materialise", "import_keras", "verify_shapes", "quiet_native_logs", "filtered_native_logs", "native_noise", "total_steps",
           "NORMALIZE_LAYER"]

#: the name of the Normalization layer ``normalize: true`` puts before the network; training
#: adapts it on the training data (:func:`netdsl.training.adapt_normalization`)
NORMALIZE_LAYER = "normalize"


#: lines TensorFlow's C++ runtime writes to the terminal that say nothing actionable
_TF_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|use_unbounded_threadpool|cpu_feature_guard"
    r"|This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|successful NUMA node read|Could not find cuda drivers"
    r"|\[Gloo\] Rank \d+ is connected to \d+ peer ranks")


def native_noise(line: str) -> bool:
    """Whether ``line`` is one of the native log lines that say nothing actionable (what
    ``netdsl run`` keeps off the terminal, and ``netdsl launch`` off its processes' output)."""
    return _TF_NOISE.search(line) is not None


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hold what native code writes to stderr (file descriptor 2) and pass on all but the
    known noise. ``NETDSL_TF_LOGS=1`` (``netdsl -v``) shows everything as it comes."""
    if os.environ.get("NETDSL_TF_LOGS", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not _TF_NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


@contextmanager
def filtered_native_logs() -> Iterator[None]:
    """Pass what is written to stderr (file descriptor 2) on as it comes, line by line, less
    the known noise (TensorFlow logs some when a seeded, deterministic run first iterates its
    data). For long phases such as training, where :func:`quiet_native_logs` would hold
    warnings back until the end. ``NETDSL_TF_LOGS=1`` (``netdsl -v``) shows everything."""
    if os.environ.get("NETDSL_TF_LOGS", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not _TF_NOISE.search(line.decode("utf-8", "replace")):
                    os.write(saved, line)

    thread = threading.Thread(target=pump, name="netdsl-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the pump reads to its end and stops
        thread.join(timeout=10)
        os.close(saved)


def import_keras(backend: str | None = None) -> Any:
    """Import Keras on ``backend`` (None: the backend already loaded, else ``$KERAS_BACKEND``,
    else TensorFlow), quietly, or explain how to install it. Keras fixes its backend at its
    first import, so asking for another one later in the same process is an error, not a
    silent switch."""
    loaded = sys.modules.get("keras")
    if loaded is not None and hasattr(loaded, "backend"):
        current = loaded.backend.backend()
        if backend is not None and current != backend:
            raise NetdslTrainingError(
                f"Keras is already running on the {current} backend in this process; it cannot "
                f"switch to {backend}", code="NDL320",
                help="Keras fixes its backend when it is first imported: run netdsl in a new "
                     f"process (or set KERAS_BACKEND={backend} before importing Keras)")
        return loaded
    import importlib.util  # noqa: PLC0415

    from .backends import install_hint, resolve  # noqa: PLC0415

    name = resolve(backend)
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if importlib.util.find_spec(name) is None:
            raise ImportError(f"no module named {name!r}")
        with quiet_native_logs():
            import keras  # noqa: PLC0415
    except ImportError as e:
        what = "TensorFlow is" if name == "tensorflow" else f"The {name} backend is"
        raise NetdslTrainingError(
            f"{what} needed to build and train models, and it is not installed ({e})",
            help=install_hint(name) + ("  (or 'netdsl[gpu]' for the CUDA build on Linux)"
                                       if name == "tensorflow" else ""),
            code="NDL301") from None
    return keras


def total_steps(model: CheckedModel, train_examples: int | None = None) -> int:
    """Optimizer steps of the whole run: ``ceil(examples x (1 - validation_split) / batch_size) x
    epochs``, the examples being those loaded (else the dataset's ``train_size``, else 1 batch)."""
    settings = model.settings
    n = train_examples if train_examples is not None else (model.data.train_size or settings["batch_size"])
    fit = math.ceil(n * (1.0 - settings["validation_split"]))
    return max(1, math.ceil(fit / settings["batch_size"])) * settings["epochs"]


def materialise(value: Any, steps: int | None = None) -> Any:
    """A bound argument as Keras takes it: references are built, tuples stay tuples. A schedule
    that ``uses_steps`` is given ``total_steps=steps``."""
    if isinstance(value, Ref):
        component = value.component
        if component is None or component.build is None:
            raise NetdslTrainingError(f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) "
                                      "has no build function", code="NDL302")
        kwargs = {k: materialise(v, steps) for k, v in value.args}
        if isinstance(component, Schedule) and component.uses_steps:
            kwargs["total_steps"] = steps or 1
        try:
            return component.build(**kwargs)
        except NetdslError:
            raise
        except (ValueError, TypeError) as exc:
            if isinstance(component, (Schedule, Callback)):  # arguments Keras refuses together
                raise NetdslTrainingError(f"{value.kind} `{value.name}`: {exc}", code="NDL302") from None
            raise NetdslPluginError(
                f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) failed to build: "
                f"{type(exc).__name__}: {exc}", code="NDL206") from None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's build error is named
            raise NetdslPluginError(
                f"{value.kind} `{value.name}` ({value.provider or 'unknown plugin'}) failed to build: "
                f"{type(exc).__name__}: {exc}", code="NDL206") from None
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
        if after is not None:
            keras = import_keras()
            return keras.Sequential([component.build(**kwargs), after])
        return component.build(**kwargs)
    except NetdslError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's build error is named, not a traceback
        raise NetdslPluginError(
            f"layer `{node.layer}` ({node.provider}) failed to build: {type(exc).__name__}: {exc}",
            node.span, code="NDL206") from None


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


def build(model: CheckedModel, *, compile: bool = True, verify: bool = True, train_examples: int | None = None,
          **compile_options: Any) -> Any:
    """The Keras functional model for a checked model, compiled with its loss, optimizer and
    metrics; ``compile_options`` (``steps_per_execution``, ``jit_compile``) go to ``compile``.
    ``verify`` compares every layer with its shape rule (:func:`verify_shapes`);
    ``train_examples`` sizes schedules that decay over the run (:func:`total_steps`)."""
    keras = import_keras(model.settings["backend"])
    from .saving import model_components, register_custom_objects

    register_custom_objects(model_components(model))  # saved under names load_model finds
    inputs, layers, tensors = build_layers(model)
    outputs = tensors[-1] if tensors else inputs
    net = keras.Model(inputs, outputs, name=_model_name(model))
    if verify:
        verify_shapes(model, layers, tensors)
    if compile:
        settings = model.settings
        net.compile(
            optimizer=materialise(settings["optimizer"], total_steps(model, train_examples)),
            loss=materialise(settings["loss"]),
            metrics=[materialise(m) for m in settings["metrics"]],
            **compile_options,
        )
    return net


def build_layers(model: CheckedModel) -> tuple[Any, list[Any], list[Any]]:
    """The Keras input, and every node's layer and output tensor, in node order (what
    :func:`build` joins into a model; tests also run real data through the tensors)."""
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
    return inputs, layers, tensors


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
