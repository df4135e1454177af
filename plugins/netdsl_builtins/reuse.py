"""Reusing a trained network: ``from_run("runs/digits04", upto="dense", trainable=false)``.

The step stands for the layers of an earlier ``netdsl run`` — all of them, or those up to the
layer ``upto`` names — with their trained weights, frozen (the default) or trainable. ``check``
knows their shapes and parameter counts without TensorFlow, from the run folder's recorded
``model.net`` and dataset description (:func:`netdsl.checking.recorded.check_run`); training
loads the folder's ``model.keras`` and cuts it at that layer.

A layer is named as Keras names the layers of a fresh model: the layer's name for its first
use (``dense``), then ``dense_1``, ``dense_2``... in the order of ``netdsl summary`` of the earlier
program. A relative folder is taken from the current directory, as ``--out`` writes it; a path
that is not a folder names the newest run of that name (``runs/digits04`` is the newest
``runs/digits04-<date>-<time>``), so a program can build on the run of another.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdsl.errors import NetdslError, NetdslTrainingError
from netdsl.lang import ir
from netdsl.vocab import types as T
from netdsl.vocab.components import Callback, Code, Layer, Param, Shape, ShapeProblem
from netdsl.vocab.hookspecs import hookimpl
from netdsl_builtins.shapes import Args, dims

#: what a finished run folder holds, and what each file is for
NEEDED = {
    "model.net": "the program it trained",
    "data.json": "what its dataset was",
    "model.keras": "the trained weights",
}


@dataclass(frozen=True)
class Recorded:
    """An earlier run's checked network: each node's Keras-style name, shape, parameters and
    inputs, and the network's input shape."""

    input_shape: Shape
    names: tuple[str, ...]
    shapes: tuple[Shape, ...]
    params: tuple[int, ...]
    inputs: tuple[tuple[int, ...], ...]
    extra_params: int  # weights before the first node (the `normalize: true` layer)

    def index(self, name: str | None) -> int:
        """The node ``name`` names (the last node when None)."""
        return len(self.names) - 1 if name is None else self.names.index(name)

    def upto(self, index: int) -> set[int]:
        """The nodes the node ``index`` depends on, itself included."""
        seen: set[int] = set()
        todo = [index]
        while todo:
            i = todo.pop()
            if i >= 0 and i not in seen:
                seen.add(i)
                todo.extend(self.inputs[i])
        return seen


_CACHE: dict[tuple[str, tuple[float, ...]], Recorded] = {}
_STACK = threading.local()  # folders being checked on this thread: a run that reuses itself


#: the name `netdsl run` gives a run folder: the program's name, the date and time
_STAMPED = re.compile(r"-\d{8}-\d{6}(?:-\d+)?")


def resolve(path: str) -> Path:
    """``path`` itself when it exists, else the newest run folder named ``path-<date>-<time>``
    (``runs/digits04`` for ``runs/digits04-20250101-120000``, as `netdsl run` names them)."""
    p = Path(path)
    if p.exists() or not p.parent.is_dir():
        return p
    stamped = [
        c
        for c in p.parent.glob(glob.escape(p.name) + "-*")
        if c.is_dir() and _STAMPED.fullmatch(c.name[len(p.name) :])
    ]
    return max(stamped, key=lambda c: c.name) if stamped else p


def folder_problem(path: str) -> str | None:
    """Why ``path`` is not a finished run folder, or None when it is one."""
    p = resolve(path)
    if not p.exists():
        return (
            f"there is no run folder at {path} (nothing at {p.resolve()}, and no "
            f"{p.name}-<date>-<time> beside it)"
        )
    if not p.is_dir():
        return f"{path} is a file, not a run folder"
    missing = [f"{name} ({why})" for name, why in NEEDED.items() if not (p / name).is_file()]
    if missing:
        return f"the run folder {path} is incomplete: it has no {', no '.join(missing)}"
    return None


def recorded(path: str) -> Recorded:
    """The earlier run's network, checked from its folder (cached while its files are unchanged)."""
    folder = resolve(path).resolve()
    stamp = tuple(os.stat(folder / name).st_mtime for name in NEEDED)
    key = (str(folder), stamp)
    hit = _CACHE.get(key)
    if hit is None:
        hit = _CACHE[key] = _check(folder)
    return hit


@contextmanager
def _entering(folder: Path) -> Iterator[None]:
    stack: list[Path] = getattr(_STACK, "folders", [])
    if folder in stack:
        raise ShapeProblem(
            f"the run folder {folder} reuses itself through `from_run`",
            "path",
            help="reuse an earlier run, not the one this program is",
        )
    _STACK.folders = [*stack, folder]
    try:
        yield
    finally:
        _STACK.folders = stack


def _check(folder: Path) -> Recorded:
    from netdsl import check_run  # the public API: a run folder's model.net, checked

    with _entering(folder):
        try:
            model = check_run(folder)
        except NetdslError as exc:
            first = exc.errors[0] if getattr(exc, "errors", None) else exc
            raise ShapeProblem(
                f"the model.net of {folder} does not check: {first.message}",
                "path",
                help="run `netdsl check` on that folder's model.net",
            ) from None
    counts: dict[str, int] = {}
    names = []
    for node in model.nodes:
        k = counts.get(node.layer, 0)
        counts[node.layer] = k + 1
        names.append(node.layer if k == 0 else f"{node.layer}_{k}")
    normalize = 2 * model.input_shape[-1] + 1 if model.settings.normalize else 0
    return Recorded(
        tuple(model.input_shape),
        tuple(names),
        tuple(tuple(n.output_shape) for n in model.nodes),
        tuple(n.params for n in model.nodes),
        tuple(tuple(n.inputs) for n in model.nodes),
        normalize,
    )


class RunFolder(T.Str):
    """A finished run folder's path: refused at the argument when missing or incomplete."""

    label = "a run folder (a string)"

    def convert(self, value: ir.Value, binder: Any) -> str:
        path = super().convert(value, binder)
        problem = folder_problem(path)
        if problem is not None:
            raise T.Problem(
                problem,
                help="give the folder `netdsl run` made (e.g. runs/digits-20250101-120000); "
                "finish a stopped run with `netdsl run --resume FOLDER`",
            )
        return path


def _from_run(shape: Shape, a: Args) -> tuple[Shape, int]:
    """The earlier network's layers up to ``upto``: its shape there, and the weights they hold."""
    run = recorded(a["path"])
    if tuple(shape) != run.input_shape:
        raise ShapeProblem(
            f"the run at {a['path']} was trained on inputs of {dims(run.input_shape)}, "
            f"this one gives {dims(shape)}",
            "path",
            help="feed it the input it was trained on (the same `input:` or dataset shape)",
        )
    if a["upto"] is not None and a["upto"] not in run.names:
        raise ShapeProblem(
            f"the run at {a['path']} has no layer `{a['upto']}`; its layers are "
            + ", ".join(run.names),
            "upto",
            help="name a layer as Keras does: `dense` for the first dense, `dense_1` the next",
        )
    index = run.index(a["upto"])
    kept = run.upto(index)
    return run.shapes[index], run.extra_params + sum(run.params[i] for i in kept)


def build_from_run(path: str, upto: str | None = None, trainable: bool = False) -> Any:
    """The earlier run's trained model cut at ``upto``, as one Keras layer (a functional model)."""
    import keras

    from netdsl import load_model  # the public API: the reload-checked loader

    run = recorded(path)
    loaded = load_model(resolve(path), compile=False)
    layers = [
        layer
        for layer in loaded.layers
        if type(layer).__name__ != "InputLayer" and layer.name != "normalize"
    ]
    if len(layers) != len(run.names):
        raise NetdslTrainingError(
            f"{path}/model.keras has {len(layers)} layers, its model.net {len(run.names)}: "
            "the folder's files do not belong together",
            code="NDL313",
        )
    cut = keras.Model(loaded.inputs, layers[run.index(upto)].output)
    cut.trainable = trainable
    return cut


#: ``from_run`` in ``netdsl emit``: the earlier model.keras loaded and cut, by plain Keras
FROM_RUN_SOURCE = '''
def from_run(folder, index, trainable):
    """The trained layers of an earlier netdsl run, up to its layer number INDEX."""
    loaded = keras.saving.load_model(os.path.join(folder, "model.keras"), compile=False)
    layers = [
        layer
        for layer in loaded.layers
        if type(layer).__name__ != "InputLayer" and layer.name != "normalize"
    ]
    cut = keras.Model(loaded.inputs, layers[index].output)
    cut.trainable = trainable
    return cut
'''


def emit_from_run(args: Mapping[str, str]) -> Code:
    """``from_run(folder, index, trainable)``: the folder and layer number found at check."""
    path = ast.literal_eval(args["path"])
    upto = ast.literal_eval(args["upto"])
    index = recorded(path).index(upto)
    folder = json.dumps(str(resolve(path).resolve()))
    return Code(
        f"from_run({folder}, {index}, {args['trainable']})",
        imports=("import os",),
        definitions=(FROM_RUN_SOURCE,),
    )


FROM_RUN = Layer(
    name="from_run",
    description="the trained layers of an earlier run, up to a named layer: "
    '`from_run("runs/x", upto="dense", trainable=false)`',
    params=(
        Param("path", RunFolder(), positional=True, help="the earlier run's folder"),
        Param("upto", T.Str(), None, help="the last layer to take (default: all)"),
        Param("trainable", T.Bool(), False, help="train its weights further (default: frozen)"),
    ),
    infer=_from_run,
    build=build_from_run,
    emit=emit_from_run,
    # the earlier model is saved inside this one: the built-in classes it may hold must load
    # with it (a third-party plugin's classes are named by the earlier run's objects.json only)
    custom_objects=tuple(
        f"netdsl_builtins.attention_layers:{name}"
        for name in (
            "Attention",
            "TokenPositionEmbedding",
            "PositionEmbedding",
            "SinePositionEmbedding",
        )
    ),
)

LAYERS = (FROM_RUN,)


# --- unfreezing to fine-tune ------------------------------------------------------------------

#: the Keras callback ``unfreeze`` builds, as source: run here to build it, and written as is
#: into the program by ``netdsl emit``
UNFREEZE_SOURCE = '''
class Unfreeze(keras.callbacks.Callback):
    """From epoch EPOCH (counted from 1) every layer trains: the frozen ones (reused layers,
    backbones) are unfrozen and the model compiled again, with a fresh optimizer of the same
    kind, at LEARNING_RATE when given (fine-tuning usually wants a small one)."""

    def __init__(self, epoch, learning_rate=None):
        super().__init__()
        self.epoch = epoch
        self.learning_rate = learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        if epoch + 1 != self.epoch:
            return
        for layer in self.model.layers:
            layer.trainable = True
        config = dict(self.model._compile_config.config)
        old = self.model.optimizer
        settings = old.get_config()
        if self.learning_rate is not None:
            settings["learning_rate"] = self.learning_rate
        config["optimizer"] = old.__class__.from_config(settings)
        self.model.compile(**config)
        self.model.make_train_function(force=True)
'''


def build_unfreeze(epoch: int, learning_rate: float | None = None) -> Any:
    """The ``Unfreeze`` callback of :data:`UNFREEZE_SOURCE`."""
    import keras

    namespace: dict[str, Any] = {"keras": keras}
    exec(UNFREEZE_SOURCE, namespace)  # netdsl's own source text, above
    return namespace["Unfreeze"](epoch, learning_rate)


UNFREEZE = Callback(
    name="unfreeze",
    description="from epoch `epoch` on, train the frozen layers too (fine-tuning), "
    "optionally at a new learning rate",
    params=(
        Param("epoch", T.Int(min=1), positional=True, help="the first epoch that trains them"),
        Param("learning_rate", T.Float(min=0, min_open=True), None, help="the rate from then on"),
    ),
    build=build_unfreeze,
    emit=lambda args: Code(
        f"Unfreeze({args['epoch']}, {args['learning_rate']})",
        definitions=(UNFREEZE_SOURCE,),
    ),
)


@hookimpl
def register_layers(register: Any) -> None:
    """The layer that reuses an earlier run."""
    for layer in LAYERS:
        register(layer)


@hookimpl
def register_callbacks(register: Any) -> None:
    """The callback that unfreezes reused layers for fine-tuning."""
    register(UNFREEZE)
