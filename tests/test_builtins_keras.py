"""The built-in activations, losses, optimizers, regularizers and metrics, checked against Keras.

Declared parameter names and defaults must match Keras's signatures (so they cannot drift),
every declaration must build, every Keras name must be covered, and importing the modules
must not import TensorFlow.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from netdsl.errors import NetdslPluginError
from netdsl.lang import ir
from netdsl.vocab.components import Component, Param
from netdsl.vocab.registry import load_registry
from netdsl_builtins import activations, losses, metrics, optimizers, regularizers

pytestmark = pytest.mark.slow  # builds or trains real Keras models

#: kind -> the built-in module that registers it
MODULES: dict[str, ModuleType] = {
    "activation": activations,
    "loss": losses,
    "optimizer": optimizers,
    "regularizer": regularizers,
    "metric": metrics,
}

#: values for parameters that have no default
REQUIRED_SAMPLES: dict[str, Any] = {
    "num_classes": 3,
    "target_class_ids": [0, 2],
    "recall": 0.5,
    "precision": 0.5,
    "specificity": 0.5,
    "sensitivity": 0.5,
}

#: Keras names deliberately not declared, with the reason
SKIPPED: dict[str, set[str]] = {
    "activation": {"threshold"},  # needs required `threshold` and `default_value` arguments
    "loss": {"Loss"},  # the base class
    "optimizer": {"Optimizer", "LossScaleOptimizer", "MultiOptimizer"},  # base, or wrap others
    "regularizer": {"Regularizer"},  # base
    "metric": {"Metric", "Mean", "Sum", "MeanMetricWrapper", "Accuracy"},
    # Mean/Sum aggregate plain values; MeanMetricWrapper wraps a function; Accuracy is `accuracy`
}

#: the built-in registry as netdsl loads it (through pluggy), with any plugin problems
PROBLEMS: list[NetdslPluginError] = []
REGISTRY = load_registry(third_party=False, on_problem=PROBLEMS.append)
COMPONENTS: list[Component] = [e.component for kind in MODULES for e in REGISTRY.entries(kind)]
WITH_PARAMS = [c for c in COMPONENTS if c.params and c.kind != "activation"]


def _id(c: Component) -> str:
    return f"{c.kind}:{c.name}"


def _get(kind: str, name: str) -> Any:
    """A registered declaration (typed loosely, so tests can read kind-specific fields)."""
    component = REGISTRY.get(kind, name)
    assert component is not None, f"{kind} `{name}` is not registered"
    return component


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    """Keras (the Keras-backed tests skip where TensorFlow is not installed)."""
    return pytest.importorskip("keras")


def _keras_target(keras: ModuleType, component: Component) -> Any:
    """The Keras class a declaration builds, from its ``keras_factory`` path."""
    path = getattr(component.build, "keras_path", None)
    assert path, f"{_id(component)} is not built with keras_factory"
    obj: Any = keras
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _defaults(component: Component) -> dict[str, Any]:
    """Every declared default, and a sample value for each required parameter."""
    out = {}
    for p in component.params:
        if p.required:
            assert p.name in REQUIRED_SAMPLES, f"no sample value for required {p.name}"
            out[p.name] = REQUIRED_SAMPLES[p.name]
        else:
            out[p.name] = p.default
    return out


def _literal(value: Any) -> ir.Value:
    """A Python default as the IR literal a user would write."""
    if isinstance(value, bool):
        return ir.Bool(value)
    if isinstance(value, int):
        return ir.Int(value)
    if isinstance(value, float):
        return ir.Float(value)
    if isinstance(value, str):
        return ir.Str(value)
    if isinstance(value, (list, tuple)):
        return ir.List(tuple(_literal(v) for v in value))
    raise TypeError(value)


def test_every_kind_is_populated_by_its_module() -> None:
    assert not PROBLEMS, [p.message for p in PROBLEMS]
    for kind, module in MODULES.items():
        for entry in REGISTRY.entries(kind):
            assert entry.provider.builtin and entry.provider.plugin == module.__name__
    counts = {kind: len(REGISTRY.names(kind)) for kind in MODULES}
    assert counts["activation"] >= 29 and counts["loss"] >= 22 and counts["optimizer"] >= 14
    assert counts["regularizer"] >= 4 and counts["metric"] >= 40


def test_usual_aliases() -> None:
    for kind, alias, name in [
        ("activation", "swish", "silu"),
        ("activation", "hard_swish", "hard_silu"),
        ("loss", "mse", "mean_squared_error"),
        ("loss", "mae", "mean_absolute_error"),
        ("loss", "mape", "mean_absolute_percentage_error"),
        ("loss", "kld", "kl_divergence"),
        ("loss", "msle", "mean_squared_logarithmic_error"),
        ("loss", "bce", "binary_crossentropy"),
        ("metric", "mse", "mean_squared_error"),
        ("metric", "mae", "mean_absolute_error"),
    ]:
        assert _get(kind, alias).name == name, (kind, alias)


def test_loss_label_encodings() -> None:
    for name in REGISTRY.names("loss"):
        assert _get("loss", name).labels in ("categorical", "sparse", "any"), name
    assert _get("loss", "categorical_crossentropy").labels == "categorical"
    assert _get("loss", "sparse_categorical_crossentropy").labels == "sparse"


def test_first_hyperparameter_is_positional() -> None:
    for c in COMPONENTS:
        if c.kind in ("optimizer", "regularizer") and c.params:
            assert c.params[0].positional, _id(c)
    assert _get("optimizer", "adam").params[0].name == "learning_rate"


@pytest.mark.parametrize("component", COMPONENTS, ids=_id)
def test_declaration_is_documented_and_defaults_fit_their_types(component: Component) -> None:
    assert component.description and "\n" not in component.description
    assert len({p.name for p in component.params}) == len(component.params)
    for p in component.params:
        assert isinstance(p, Param)
        if not p.required and p.default is not None:
            converted = p.type.convert(_literal(p.default), None)  # type: ignore[arg-type]
            assert converted == (list(p.default) if isinstance(p.default, tuple) else p.default)


@pytest.mark.parametrize("component", WITH_PARAMS, ids=_id)
def test_params_match_keras_signature(keras: ModuleType, component: Component) -> None:
    signature = inspect.signature(_keras_target(keras, component))
    for p in component.params:
        assert p.name in signature.parameters, f"{_id(component)}: Keras has no `{p.name}`"
        keras_default = signature.parameters[p.name].default
        if p.required:
            assert keras_default is inspect.Parameter.empty, f"{_id(component)}.{p.name}"
        else:
            assert p.default == keras_default, (
                f"{_id(component)}.{p.name}: declared {p.default!r}, Keras {keras_default!r}"
            )


@pytest.mark.parametrize("component", COMPONENTS, ids=_id)
def test_builds_with_defaults(keras: ModuleType, component: Component) -> None:
    assert component.build is not None
    built = component.build(**_defaults(component))
    shaping = getattr(component, "shape", None) is not None  # builds a layer: see Activation.shape
    expected = {
        "activation": keras.layers.Layer if shaping else str,
        "loss": keras.losses.Loss,
        "optimizer": keras.optimizers.Optimizer,
        "regularizer": keras.regularizers.Regularizer,
        "metric": str if component.name == "accuracy" else keras.metrics.Metric,
    }[component.kind]
    assert isinstance(built, expected), f"{_id(component)} built {built!r}"


@pytest.mark.parametrize("component", [c for c in COMPONENTS if c.kind == "activation"], ids=_id)
def test_activation_is_accepted_by_keras(keras: ModuleType, component: Component) -> None:
    assert component.build is not None
    if getattr(component, "shape", None) is not None:  # a layer: the same values, the shape it says
        import numpy as np

        x = np.arange(24, dtype="float32").reshape(2, 3, 4) / 10
        layer = component.build()
        assert np.allclose(layer(x), keras.activations.get(component.name)(x))
        assert tuple(layer.compute_output_shape((None, 3, 4))) == (None, *component.shape((3, 4)))
        return
    fn = keras.activations.get(component.build())
    assert fn is keras.activations.get(component.name)
    for alias in component.aliases:
        assert keras.activations.get(alias) is fn


def test_bound_values_reach_keras(keras: ModuleType) -> None:
    sgd = _get("optimizer", "sgd").build(learning_rate=0.5, momentum=0.9, nesterov=True)
    assert sgd.get_config()["momentum"] == 0.9 and sgd.get_config()["nesterov"] is True
    assert float(sgd.learning_rate) == pytest.approx(0.5)
    l2 = _get("regularizer", "l2").build(l2=0.25)
    assert l2.get_config() == {"l2": 0.25}
    cce = _get("loss", "categorical_crossentropy").build(from_logits=True, label_smoothing=0.1)
    assert cce.get_config()["from_logits"] is True and cce.get_config()["label_smoothing"] == 0.1
    topk = _get("metric", "top_k_categorical_accuracy").build(k=3)
    assert topk.get_config()["k"] == 3


def test_every_keras_name_is_covered(keras: ModuleType) -> None:
    from keras.src.activations import ALL_OBJECTS_DICT as keras_activations

    missing = set(keras_activations) - set(REGISTRY.names("activation", aliases=True))
    assert missing == SKIPPED["activation"]
    for kind, namespace, base in [
        ("loss", keras.losses, keras.losses.Loss),
        ("optimizer", keras.optimizers, keras.optimizers.Optimizer),
        ("regularizer", keras.regularizers, keras.regularizers.Regularizer),
        ("metric", keras.metrics, keras.metrics.Metric),
    ]:
        declared = {
            _keras_target(keras, e.component)
            for e in REGISTRY.entries(kind)
            if getattr(e.component.build, "keras_path", None)
        }
        missing = {
            n
            for n, o in vars(namespace).items()
            if isinstance(o, type) and issubclass(o, base) and o not in declared
        }
        assert missing == SKIPPED[kind], f"{kind}: not declared {sorted(missing ^ SKIPPED[kind])}"


def test_importing_and_registering_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from netdsl_builtins import activations, losses, metrics, optimizers, regularizers\n"
        "out = []\n"
        "for m, h in [(activations, 'register_activations'), (losses, 'register_losses'),\n"
        "             (optimizers, 'register_optimizers'), (metrics, 'register_metrics'),\n"
        "             (regularizers, 'register_regularizers')]:\n"
        "    getattr(m, h)(register=lambda c, override=False: out.append(c))\n"
        "assert len(out) > 100, len(out)\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
