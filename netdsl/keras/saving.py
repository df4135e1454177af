"""Saved models that load back: plugin objects registered with Keras, and a reload check.

A plugin whose ``build`` puts its own Python function or class into a model (a custom
activation, a Layer subclass) lists it in its component's ``custom_objects`` as
``"module:attribute"``. netdsl imports and registers those objects with Keras only when a model
is built (:func:`netdsl.keras.compiler.build`) or loaded (:func:`load_model`), so plugins never import
Keras at module import, and a ``.keras`` file saved by ``netdsl run`` names each object the way
:func:`load_model` finds it again. After saving, :func:`verify_reload` loads the file back and
compares its weights in a fresh interpreter (a subprocess that imports nothing but the objects
the run folder names), so a run never reports "saved" for a file that only this process can load.

A run folder names those objects in ``objects.json`` (:data:`OBJECTS_NAME`):
``{"custom_objects": {"<registered name>": "module:attribute"}}``; plain Keras loads the model
with ``keras.saving.load_model(file, custom_objects=objects_for_keras(folder))``, or by
importing each ``module:attribute`` itself (README, "The run folder").
"""

from __future__ import annotations

import atexit
import hashlib
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NetdslError, NetdslPluginError, NetdslTrainingError
from ..vocab.components import Component, Ref

if TYPE_CHECKING:  # pragma: no cover
    from ..checking.plan import CheckedModel
    from ..vocab.registry import Registry

__all__ = [
    "OBJECTS_NAME",
    "UNLOADABLE_NAME",
    "load_model",
    "model_components",
    "objects_for_keras",
    "objects_json",
    "prestart_reload_check",
    "register_custom_objects",
    "resolve_model_file",
    "verify_reload",
]

#: what ``model.keras`` is renamed to when it cannot be loaded back (its weights are kept)
UNLOADABLE_NAME = "model.unloadable.keras"

#: the run folder's record of the Python objects its model needs to load
OBJECTS_NAME = "objects.json"


def _import(path: str, component: Component) -> Any:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise NetdslPluginError(
            f"{component.kind} `{component.name}` lists custom object `{path}`, which cannot be "
            f"imported: {type(exc).__name__}: {exc}",
            code="NDL220",
            help='custom_objects entries are "module:attribute" paths importable where netdsl runs',
        ) from None


def register_custom_objects(
    components: Iterable[Component], problems: list[NetdslError] | None = None
) -> dict[str, Any]:
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
            found[_register(keras, obj, path)] = obj
    return found


def _register(keras: Any, obj: Any, path: str) -> str:
    """Register ``obj`` (imported from ``path``) with Keras as ``module>attribute`` unless its
    author registered it already; returns the name Keras saves it under."""
    name: str = keras.saving.get_registered_name(obj)
    if name == getattr(obj, "__name__", None):  # not registered yet: register it now
        module, _, attr = path.partition(":")
        keras.saving.register_keras_serializable(package=module, name=attr)(obj)
        name = keras.saving.get_registered_name(obj)
    return name


def objects_record(model: CheckedModel) -> dict[str, str]:
    """The custom objects ``model`` uses, by the name Keras saves them under: ``{registered
    name: "module:attribute"}`` (imports them and registers them with Keras)."""
    from .runtime import import_keras

    keras = import_keras()
    out: dict[str, str] = {}
    for component in model_components(model):
        for path in component.custom_objects:
            out[_register(keras, _import(path, component), path)] = path
    return dict(sorted(out.items()))


def objects_json(model: CheckedModel) -> str:
    """The text of a run folder's ``objects.json``: every object its model needs to load."""
    return json.dumps({"custom_objects": objects_record(model)}, indent=2) + "\n"


def _recorded_paths(folder: Path) -> dict[str, str]:
    """``objects.json``'s ``{registered name: "module:attribute"}`` ({} when there is none)."""
    path = folder / OBJECTS_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        objects = data["custom_objects"]
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in objects.items()):
            raise TypeError("a name or a path is not a string")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NetdslTrainingError(
            f"{path}: not a record of custom objects ({exc})",
            code="NDL311",
            help='expected {"custom_objects": {"name": "module:attr"}}',
        ) from None
    return dict(objects)


def objects_for_keras(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``custom_objects=`` argument that plain ``keras.saving.load_model`` needs for a run
    folder's model: each object ``objects.json`` names, imported and registered."""
    from .runtime import import_keras

    keras = import_keras()
    out: dict[str, Any] = {}
    for name, path in _recorded_paths(Path(folder)).items():
        module, _, attr = path.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise NetdslTrainingError(
                f"{folder}/{OBJECTS_NAME} names `{path}`, which cannot be imported here: "
                f"{type(exc).__name__}: {exc}",
                code="NDL310",
                help="install the plugin that trained the model",
            ) from None
        _register(keras, obj, path)
        out[name] = obj
    return out


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
                "'Saved models'); run it again after that",
                code="NDL311",
            )
        raise NetdslTrainingError(
            f"{p}/ has no model.keras: it is not a finished run folder",
            help="give a run folder (runs/NAME/) or a .keras file",
            code="NDL311",
        )
    if not p.exists():
        raise NetdslTrainingError(f"{p}: no such file or folder", code="NDL311")
    if p.suffix != ".keras":
        raise NetdslTrainingError(
            f"{p} is not a .keras file or a run folder",
            code="NDL311",
            help="give a run folder (runs/NAME/) or a .keras file",
        )
    return p


def load_model(
    path: str | os.PathLike[str], registry: Registry | None = None, *, compile: bool = True
) -> Any:
    """Load a model netdsl saved (a run folder or a ``.keras`` file), with the custom objects of
    every plugin in ``registry`` (default: all installed plugins) registered with Keras."""
    from ..vocab.registry import default_registry
    from .runtime import import_keras

    file = resolve_model_file(path)
    registry = registry if registry is not None else default_registry()
    keras = import_keras()
    problems: list[NetdslError] = []  # another plugin's broken entry must not stop this load
    register_custom_objects((e.component for e in registry.entries()), problems)
    custom = objects_for_keras(file.parent)  # what the run folder names, plugin listed or not
    try:
        return keras.saving.load_model(file, compile=compile, custom_objects=custom)
    except NetdslError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras's reasons are many; each is named, not a traceback
        skipped = "".join(f"; {p.message}" for p in problems)
        raise NetdslTrainingError(
            f"{file} cannot be loaded: {_first_line(exc)}",
            help=_RELOAD_HELP + skipped,
            code="NDL310",
        ) from None


_RELOAD_HELP = (
    "a plugin that builds its own Python function or class must list it in its "
    "component's `custom_objects` (see docs/plugins.md, 'Saved models')"
)


def _first_line(exc: BaseException) -> str:
    """Keras's innermost reason (it nests one "Exception encountered:" per level), first sentence."""
    text = str(exc).rsplit("Exception encountered: ", 1)[-1].strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line.split('. Make sure', 1)[0]}"


def verify_reload(file: str | os.PathLike[str], net: Any) -> float:
    """Load ``file`` back in a fresh interpreter, given only the objects ``objects.json`` beside
    it names, and compare every weight with ``net``'s (by SHA-256). Returns the seconds it took.

    On failure the file is renamed to ``model.unloadable.keras`` (the trained weights are kept),
    ``metrics.json`` beside it records status ``unloadable`` and the reason, and a
    NetdslTrainingError says which object could not be found and how to fix the plugin.
    """
    import time

    from .runtime import import_keras

    keras = import_keras()
    file = Path(file)
    started = time.perf_counter()
    answer = _probe(file, keras.backend.backend())
    problem = answer.get("error")
    if problem is None and answer.get("weights") != _digests(net.get_weights()):
        problem = "its weights differ from the trained model's"
    seconds = time.perf_counter() - started
    if problem is None:
        return seconds
    kept = file.with_name(UNLOADABLE_NAME)
    os.replace(file, kept)
    metrics = file.with_name("metrics.json")
    if metrics.is_file():
        data = json.loads(metrics.read_text(encoding="utf-8"))
        data.update(status="unloadable", error=f"the saved model cannot be loaded back: {problem}")
        metrics.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    raise NetdslTrainingError(
        f"the trained model was saved but cannot be loaded back ({problem}); it is kept as {kept}",
        help=_RELOAD_HELP,
        code="NDL310",
    )


def _digests(weights: Iterable[Any]) -> list[str]:
    """Each weight array as ``dtype shape sha256``: equal exactly when the arrays are."""
    import numpy as np

    out = []
    for w in weights:
        a = np.ascontiguousarray(np.asarray(w))
        out.append(f"{a.dtype} {a.shape} {hashlib.sha256(a.tobytes()).hexdigest()}")
    return out


#: the interpreter that serves reload checks: (backend, process, its stderr file)
_SERVER: list[tuple[str, subprocess.Popen[str], Any]] = []


def _forks(backend: str) -> bool:
    """Whether the reload server forks a new process per check (TensorFlow, where a process
    forked after importing it, before running anything, is sound) or serves one check and
    ends (JAX, which is multithreaded once imported)."""
    return backend == "tensorflow" and hasattr(os, "fork")


def prestart_reload_check(backend: str) -> None:
    """Start the interpreter of the next reload check now (``netdsl run`` calls this when its
    run starts), so its import of Keras overlaps training instead of following the save."""
    if _SERVER and _SERVER[0][0] == backend and _SERVER[0][1].poll() is None:
        return
    _discard()
    _SERVER.append(_spawn(backend))


def _spawn(backend: str) -> tuple[str, subprocess.Popen[str], Any]:
    """A new interpreter running :func:`_probe_main`, in a session of its own (a Ctrl-C meant
    for the run does not reach it); it ends when our end of its stdin closes."""
    import tempfile

    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "NETDSL_RELOAD_PATH": json.dumps([p for p in sys.path if p]),
    }
    code = (
        "import json, os, sys; sys.path[:0] = json.loads(os.environ['NETDSL_RELOAD_PATH']); "
        "import netdsl.keras.saving as s; s._probe_main()"
    )  # this netdsl, wherever it lies
    # open while the child lives (closed by _discard): no `with` can span that
    errors = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=env,
        start_new_session=True,
    )
    return backend, child, errors


def _discard() -> None:
    """End the waiting interpreter, if any (it was started by this process)."""
    while _SERVER:
        _, child, errors = _SERVER.pop()
        if child.poll() is None:
            child.kill()
            child.wait()
        errors.close()


atexit.register(_discard)


def _probe(file: Path, backend: str) -> dict[str, Any]:
    """Ask a fresh interpreter to load ``file``: ``{"weights": [...]}`` or ``{"error": "..."}``."""
    prestart_reload_check(backend)
    _, child, errors = _SERVER[0]
    request = {"file": os.fspath(file.resolve()), "path": [p for p in sys.path if p]}
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(request) + "\n")
        child.stdin.flush()
        line = child.stdout.readline()
    except OSError as exc:
        line = ""
        problem = f"the reload check could not run: {exc}"
    else:
        problem = "no answer"
    if not _forks(backend) or not line:
        _discard()  # served its one check, or died
    try:
        answer = json.loads(line) if line else None
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        return answer
    errors.seek(0)
    said = errors.read().strip().splitlines()
    return {"error": f"the reload check failed: {said[-1] if said else problem}"}


def _probe_main() -> None:
    """The reload checker's side: import Keras, then for each request on stdin (a file and the
    asking process's ``sys.path``) answer one JSON line, from a process forked for it
    (:func:`_forks`) that has loaded nothing before, or from this one, which then ends."""
    try:
        from .runtime import import_keras

        backend = import_keras().backend.backend()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, not a traceback
        print(json.dumps({"error": f"Keras does not import: {exc}"}), flush=True)
        return
    for line in sys.stdin:
        request = json.loads(line)
        if not _forks(backend):
            print(json.dumps(_load_answer(request)), flush=True)
            return
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the fresh process: load, answer, leave without running any cleanup
            os.close(read)
            try:
                os.write(write, json.dumps(_load_answer(request)).encode() + b"\n")
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read, encoding="utf-8") as answer:
            text = answer.read().strip()
        os.waitpid(pid, 0)
        print(text or json.dumps({"error": "the loading process died"}), flush=True)


def _load_answer(request: dict[str, Any]) -> dict[str, Any]:
    """Load ``request["file"]`` with plain Keras, given the objects its run folder names
    (imported on the asking process's ``sys.path``): its weights' digests, or the error."""
    from .runtime import import_keras

    sys.path[:] = request["path"]
    file = Path(request["file"])
    try:
        custom = objects_for_keras(file.parent)
        loaded = import_keras().saving.load_model(file, custom_objects=custom)
        return {"weights": _digests(loaded.get_weights())}
    except NetdslError as err:
        return {"error": err.message}
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        return {"error": _first_line(exc)}
