"""Saved models that load back: plugin objects registered with Keras, and a reload check.

A plugin whose ``build`` puts its own Python function or class into a model (a custom
activation, a Layer subclass) lists it in its component's ``custom_objects`` as
``"module:attribute"``. netdsl imports and registers those objects with Keras only when a model
is built (:func:`netdsl.keras.compiler.build`) or loaded (:func:`load_model`), so plugins never import
Keras at module import, and a ``.keras`` file saved by ``netdsl run`` names each object the way
:func:`load_model` finds it again. After saving, :func:`verify_reload` loads the file back and
compares its weights, so a run never reports "saved" for a file that cannot be loaded.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NetdslError, NetdslPluginError, NetdslTrainingError
from ..vocab.components import Component, Ref

if TYPE_CHECKING:  # pragma: no cover
    from ..checking.plan import CheckedModel
    from ..vocab.registry import Registry

__all__ = [
    "UNLOADABLE_NAME",
    "load_model",
    "model_components",
    "register_custom_objects",
    "resolve_model_file",
    "verify_reload",
]

#: what ``model.keras`` is renamed to when it cannot be loaded back (its weights are kept)
UNLOADABLE_NAME = "model.unloadable.keras"


def _import(path: str, component: Component) -> Any:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise NetdslPluginError(
            f"{component.kind} `{component.name}` lists custom object `{path}`, which cannot be "
            f"imported: {type(exc).__name__}: {exc}", code="NDL220",
            help='custom_objects entries are "module:attribute" paths importable where netdsl runs') from None


def register_custom_objects(components: Iterable[Component],
                            problems: list[NetdslError] | None = None) -> dict[str, Any]:
    """Import every ``custom_objects`` entry of ``components`` and register it with Keras (as
    ``module>attribute``, unless its author registered it already). Returns the objects by the
    name Keras saves them under. An entry that cannot be imported raises, or with ``problems``
    given is appended there and skipped."""
    from .runtime import import_keras

    keras = import_keras()
    found: dict[str, Any] = {}
    for component in components:
        for path in component.custom_objects:
            try:
                obj = _import(path, component)
            except NetdslPluginError as err:
                if problems is None:
                    raise
                problems.append(err)
                continue
            name = keras.saving.get_registered_name(obj)
            if name == getattr(obj, "__name__", None):  # not registered yet: register it now
                module, _, attr = path.partition(":")
                keras.saving.register_keras_serializable(package=module, name=attr)(obj)
                name = keras.saving.get_registered_name(obj)
            found[name] = obj
    return found


def model_components(model: CheckedModel) -> list[Component]:
    """Every declaration a checked model uses: its layers (and wrapped layers), the components
    their arguments name, and its loss, optimizer and metrics."""
    out: dict[int, Component] = {}

    def add(value: Any) -> None:
        if isinstance(value, Ref):
            if value.component is not None:
                out.setdefault(id(value.component), value.component)
            for _, v in value.args:
                add(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)

    def add_node(node: Any) -> None:
        if node.component is not None:
            out.setdefault(id(node.component), node.component)
        for _, v in node.args:
            add(v)
        if node.inner is not None:
            add_node(node.inner)

    for node in model.nodes:
        add_node(node)
    for value in (model.settings.loss, model.settings.optimizer, model.settings.metrics):
        add(value)
    return list(out.values())


def resolve_model_file(path: str | os.PathLike[str]) -> Path:
    """The ``.keras`` file for a run folder (its ``model.keras``) or a ``.keras`` file itself."""
    p = Path(path)
    if p.is_dir():
        model = p / "model.keras"
        if model.is_file():
            return model
        if (p / UNLOADABLE_NAME).is_file():
            raise NetdslTrainingError(
                f"{p}/ holds {UNLOADABLE_NAME}: its run saved a model that could not be loaded back",
                help="its plugin must list the custom objects it uses (docs/plugins.md, "
                     "'Saved models'); run it again after that", code="NDL311")
        raise NetdslTrainingError(f"{p}/ has no model.keras: it is not a finished run folder",
                                  help="give a run folder (runs/NAME/) or a .keras file", code="NDL311")
    if not p.exists():
        raise NetdslTrainingError(f"{p}: no such file or folder", code="NDL311")
    if p.suffix != ".keras":
        raise NetdslTrainingError(f"{p} is not a .keras file or a run folder", code="NDL311",
                                  help="give a run folder (runs/NAME/) or a .keras file")
    return p


def load_model(path: str | os.PathLike[str], registry: Registry | None = None, *,
               compile: bool = True) -> Any:
    """Load a model netdsl saved (a run folder or a ``.keras`` file), with the custom objects of
    every plugin in ``registry`` (default: all installed plugins) registered with Keras."""
    from ..vocab.registry import default_registry
    from .runtime import import_keras

    file = resolve_model_file(path)
    registry = registry if registry is not None else default_registry()
    keras = import_keras()
    problems: list[NetdslError] = []  # another plugin's broken entry must not stop this load
    register_custom_objects((e.component for e in registry.entries()), problems)
    try:
        return keras.saving.load_model(file, compile=compile)
    except NetdslError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras's reasons are many; each is named, not a traceback
        skipped = "".join(f"; {p.message}" for p in problems)
        raise NetdslTrainingError(f"{file} cannot be loaded: {_first_line(exc)}",
                                  help=_RELOAD_HELP + skipped, code="NDL310") from None


_RELOAD_HELP = ("a plugin that builds its own Python function or class must list it in its "
                "component's `custom_objects` (see docs/plugins.md, 'Saved models')")


def _first_line(exc: BaseException) -> str:
    """Keras's innermost reason (it nests one "Exception encountered:" per level), first sentence."""
    text = str(exc).rsplit("Exception encountered: ", 1)[-1].strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line.split('. Make sure', 1)[0]}"


def verify_reload(file: str | os.PathLike[str], net: Any) -> None:
    """Load ``file`` back as :func:`load_model` would and compare every weight with ``net``'s.

    On failure the file is renamed to ``model.unloadable.keras`` (the trained weights are kept),
    ``metrics.json`` beside it records status ``unloadable`` and the reason, and a
    NetdslTrainingError says which object could not be found and how to fix the plugin.
    """
    import numpy as np

    from .runtime import import_keras

    keras = import_keras()
    file = Path(file)
    problem: str | None = None
    try:
        loaded = keras.saving.load_model(file)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        problem = _first_line(exc)
    else:
        saved, now = loaded.get_weights(), net.get_weights()
        if len(saved) != len(now) or any(a.shape != b.shape or not np.array_equal(a, b)
                                          for a, b in zip(saved, now)):
            problem = "its weights differ from the trained model's"
    if problem is None:
        return
    kept = file.with_name(UNLOADABLE_NAME)
    os.replace(file, kept)
    metrics = file.with_name("metrics.json")
    if metrics.is_file():
        data = json.loads(metrics.read_text(encoding="utf-8"))
        data.update(status="unloadable", error=f"the saved model cannot be loaded back: {problem}")
        metrics.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    raise NetdslTrainingError(
        f"the trained model was saved but cannot be loaded back ({problem}); it is kept as "
        f"{kept}", help=_RELOAD_HELP, code="NDL310")
