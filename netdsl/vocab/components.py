"""What a plugin registers: component declarations with typed parameters.

A declaration says everything the checker needs without TensorFlow (parameters, and for a
layer its shape and parameter-count rule) and how to build the Keras object (``build``, which
imports TensorFlow inside the call, never at module import).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Literal,
    get_args,
)

from . import types as T
from .backends import BACKENDS
from .columns import Column

__all__ = [
    "DEFAULT_INPUT",
    "DEFAULT_TARGET",
    "INPUT_KINDS",
    "KINDS",
    "REQUIRED",
    "Activation",
    "Adapter",
    "Block",
    "Callback",
    "Code",
    "Component",
    "DataInfo",
    "DataRequest",
    "Dataset",
    "InputInfo",
    "InputKind",
    "Labels",
    "Layer",
    "Loss",
    "Metric",
    "Optimizer",
    "OutputRule",
    "Param",
    "Ref",
    "Regularizer",
    "Rule",
    "Schedule",
    "Shape",
    "ShapeProblem",
    "Streams",
    "Target",
    "TargetInfo",
    "TargetKind",
    "Violation",
    "Wrapper",
    "apply_rule",
    "at_most_one",
    "keras_factory",
    "keras_value",
    "needs",
]

_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
#: a shape without the batch axis, e.g. (28, 28, 1); None marks an unknown size. The one Shape
#: type: its items stay Any because shape rules index and multiply dims the checker knows are set.
Shape = tuple[Any, ...]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Violation:
    """What a :data:`Rule` found: the parameter to point the caret at, what is wrong (words that
    follow "bad `param` for `name`: "), and how to fix it."""

    param: str
    message: str
    help: str | None = None


#: a rule across a component's parameters, checked after they bind: the bound arguments (every
#: parameter, defaults filled) to the violations found (none when the arguments are fine)
Rule = Callable[[Mapping[str, Any]], Iterable[Violation]]
#: a metric's rule against the network it measures: the bound arguments and the network's output
#: shape (without the batch axis) to the violations found (``recall(class_id=5)`` needs 6 outputs)
OutputRule = Callable[[Mapping[str, Any], Shape], Iterable[Violation]]


def apply_rule(
    rule: Callable[..., Iterable[Violation]], args: Sequence[Any], names: Collection[str]
) -> tuple[list[Violation], list[str]]:
    """Run a plugin's rule on ``args``: the violations it found, and what was wrong with the rule
    itself (it raised, or returned something other than a :class:`Violation` naming one of
    ``names``), as text for a plugin error. A plugin's rule never crashes ``check``."""
    try:
        found: list[Any] = list(rule(*args))
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported, not raised
        return [], [f"raised {type(exc).__name__}: {exc}"]
    good = [v for v in found if isinstance(v, Violation) and v.param in names]
    bad = [
        f"returned {v!r}, not a Violation naming a parameter"
        for v in found
        if not (isinstance(v, Violation) and v.param in names)
    ]
    return good, bad


def at_most_one(*names: str) -> Rule:
    """A rule: at most one of ``names`` may be given (Keras refuses the others together)."""

    def rule(args: Mapping[str, Any]) -> Iterable[Violation]:
        given = [n for n in names if args.get(n) is not None]
        if len(given) > 1:
            yield Violation(
                given[1],
                f"`{given[0]}` and `{given[1]}` cannot be given together",
                help=f"give one of {', '.join(f'`{n}`' for n in names)}",
            )

    rule.__qualname__ = f"at_most_one{names!r}"
    return rule


def needs(name: str, other: str, value: Any = True) -> Rule:
    """A rule: ``name`` may only be given when ``other`` is ``value`` (``num_labels`` needs
    ``multi_label=true``)."""

    def rule(args: Mapping[str, Any]) -> Iterable[Violation]:
        if args.get(name) is not None and args.get(other) != value:
            written = str(value).lower() if isinstance(value, bool) else value
            yield Violation(
                name,
                f"`{name}` needs `{other}={written}`",
                help=f"add `{other}={written}`, or leave out `{name}`",
            )

    rule.__qualname__ = f"needs({name!r}, {other!r})"
    return rule


@dataclass(frozen=True)
class Param:
    """One typed parameter. ``positional`` lets it be filled without ``key=``."""

    name: str
    type: T.ParamType
    default: Any = REQUIRED
    positional: bool = False
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Ref:
    """A bound reference to another component, e.g. ``l2(0.01)`` → Ref('regularizer', 'l2', ...)."""

    kind: str
    name: str
    args: tuple[tuple[str, Any], ...] = ()
    #: the declaration it was resolved to (set by the checker, so later stages never look it up)
    component: Component | None = field(default=None, compare=False, repr=False)
    #: who supplied it (``str(Provider)``), so that a later failure names the plugin
    provider: str = field(default="", compare=False, repr=False)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "args": {k: to_json(v) for k, v in self.args}}


def to_json(value: Any) -> Any:
    """A bound argument value as plain JSON data."""
    if isinstance(value, Ref):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value


class ShapeProblem(Exception):
    """Raised by a layer's ``infer`` when the input shape does not fit; ``param`` points the caret."""

    def __init__(self, message: str, param: str | None = None, help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.help = help


#: what a layer takes as input: any shape, or one of the input kinds below
InputKind = Literal["any", "vector", "sequence", "image"]
#: input kind -> (rank without the batch axis, words for messages)
INPUT_KINDS: Mapping[str, tuple[int, str]] = {
    "vector": (1, "a vector (rank 1)"),
    "sequence": (2, "a sequence (steps x features)"),
    "image": (3, "an image (height x width x channels)"),
}
#: how a loss or metric wants the labels: one-hot rows, integer class ids, or as the data gives them
Labels = Literal["categorical", "sparse", "any"]
#: what a dataset's target is, and so which loss, metrics and output the network needs
TargetKind = Literal["classes", "binary", "regression"]
#: what a wrapper layer encloses: one layer (``bidirectional(lstm 64)``) or a sub-network
Wrapper = Literal["layer", "chain"]

_ENUMS: Mapping[str, tuple[str | None, ...]] = {
    "accepts": get_args(InputKind),
    "labels": get_args(Labels),
    "wrapper": (*get_args(Wrapper), None),
}


@dataclass(frozen=True, kw_only=True)
class Component:
    """Base declaration: a unique lowercase name, aliases, typed params, a description, a factory.

    ``rules`` check what one parameter's type cannot: parameters that exclude or need each
    other, values that depend on another (see :data:`Rule`); the binder runs them once every
    argument has bound, and reports each violation at the argument it names.
    """

    kind: ClassVar[str] = "component"
    name: str
    params: tuple[Param, ...] = ()
    description: str = ""
    aliases: tuple[str, ...] = ()
    build: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    #: the plugin's own Python objects that ``build`` puts into a model (a custom activation
    #: function, a Layer subclass), as ``"module:attribute"`` import paths: netdsl imports and
    #: registers them with Keras only when it builds or loads a model, so a saved ``.keras`` file
    #: reloads (:func:`netdsl.load_model`) and the plugin never imports Keras at module import
    custom_objects: tuple[str, ...] = ()
    #: how ``netdsl emit`` writes it as plain Keras code, when ``build`` is neither
    #: :func:`keras_factory` nor :func:`keras_value`: ``emit(args) -> str | Code``, ``args``
    #: mapping every argument (defaults included) to its Python source (a dataset's: see
    #: :class:`Dataset`)
    emit: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    rules: tuple[Rule, ...] = field(default=(), compare=False, repr=False)
    #: the Keras backends it runs on (names from netdsl.vocab.backends.BACKENDS); empty: every one
    backends: tuple[str, ...] = ()

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def problems(self) -> list[str]:
        """What is wrong with this declaration, as ``field: reason`` lines (checked at registration)."""
        out: list[str] = []
        if not isinstance(self.params, tuple) or not all(isinstance(p, Param) for p in self.params):
            out.append("params: must be a tuple of netdsl.vocab.components.Param")
        else:
            names = [p.name for p in self.params]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                out.append(f"params: `{dup[0]}` is declared twice")
            for p in self.params:
                if not isinstance(p.type, T.ParamType):
                    out.append(f"params: `{p.name}` has no netdsl.vocab.types type")
        if not isinstance(self.description, str):
            out.append("description: must be a string")
        if self.build is not None and not callable(self.build):
            out.append("build: must be callable")
        if not isinstance(self.custom_objects, tuple) or not all(
            isinstance(c, str) and _IMPORT_PATH.fullmatch(c) for c in self.custom_objects
        ):
            out.append('custom_objects: must be a tuple of "module:attribute" import paths')
        if self.emit is not None and not callable(self.emit):
            out.append("emit: must be callable")
        if not isinstance(self.rules, tuple) or not all(callable(r) for r in self.rules):
            out.append("rules: must be a tuple of callables (bound arguments) -> Violations")
        if not isinstance(self.backends, tuple) or any(b not in BACKENDS for b in self.backends):
            out.append(f"backends: must be a tuple of {', '.join(BACKENDS)} (empty: every backend)")
        for name, allowed in _ENUMS.items():
            if hasattr(self, name) and getattr(self, name) not in allowed:
                value = getattr(self, name)
                choices = ", ".join(repr(a) for a in allowed)
                out.append(f"{name}: {value!r} is not one of {choices}")
        return out


@dataclass(frozen=True, kw_only=True)
class Activation(Component):
    """An activation function; ``build()`` returns what Keras accepts as ``activation=``.

    ``shape`` says how it changes the shape it is applied to (``glu`` halves the last axis;
    raise :class:`ShapeProblem` for one it cannot take); None: it keeps the shape. Layers apply
    it to their output in their ``infer``. Keras's layers assume their activation keeps the
    shape, so one with a ``shape`` must ``build()`` to a Keras layer (with the right
    ``compute_output_shape``); the compiler runs it after the layer it is given to."""

    kind: ClassVar[str] = "activation"
    shape: Callable[[Shape], Shape] | None = field(default=None, compare=False, repr=False)

    def problems(self) -> list[str]:
        out = super().problems()
        if self.shape is not None and not callable(self.shape):
            out.append("shape: must be callable: (input shape) -> output shape")
        return out


@dataclass(frozen=True, kw_only=True)
class Loss(Component):
    """A loss; ``labels`` says how the data's labels must be encoded for it; ``default_for`` the
    targets for which it is the loss when the program names none; ``targets`` the targets it can
    train on at all (a ``sparse`` loss needs class ids; ``()``: none netdsl's datasets give)."""

    kind: ClassVar[str] = "loss"
    labels: Labels = "any"
    default_for: tuple[TargetKind, ...] = ()
    targets: tuple[TargetKind, ...] = get_args(TargetKind)

    def problems(self) -> list[str]:
        return [
            *super().problems(),
            *_target_problems(self.default_for),
            *_target_problems(self.targets, "targets"),
        ]


@dataclass(frozen=True, kw_only=True)
class Optimizer(Component):
    """An optimizer with its hyperparameters; ``build()`` returns the Keras optimizer.

    ``sparse_rules`` are :data:`Rule` s checked only when the network has a layer whose gradients
    are sparse on TensorFlow (``sparse_gradients``, e.g. ``embedding``): what such gradients
    cannot go through (``loss_scale_factor`` divides them, which Keras cannot do to sparse
    ones). A :class:`Violation` with ``param=""`` means the optimizer itself."""

    kind: ClassVar[str] = "optimizer"
    sparse_rules: tuple[Rule, ...] = field(default=(), compare=False, repr=False)

    def problems(self) -> list[str]:
        out = super().problems()
        if not isinstance(self.sparse_rules, tuple) or not all(
            callable(r) for r in self.sparse_rules
        ):
            out.append("sparse_rules: must be a tuple of callables (args) -> violations")
        return out


@dataclass(frozen=True, kw_only=True)
class Regularizer(Component):
    """A weight regularizer (``l2(0.01)``); ``build()`` returns the Keras regularizer."""

    kind: ClassVar[str] = "regularizer"


@dataclass(frozen=True, kw_only=True)
class Metric(Component):
    """A training metric; ``default_for`` the targets it is reported for when none is named.

    ``output_rules`` check arguments against the network's output (see :data:`OutputRule`):
    a class id or ``top_k`` past the output's units fails only when Keras steps, so ``check``
    runs them once the output shape is known and reports each violation at its argument."""

    kind: ClassVar[str] = "metric"
    labels: Labels = "any"
    default_for: tuple[TargetKind, ...] = ()
    output_rules: tuple[OutputRule, ...] = field(default=(), compare=False, repr=False)

    def problems(self) -> list[str]:
        out = [*super().problems(), *_target_problems(self.default_for)]
        if not isinstance(self.output_rules, tuple) or not all(
            callable(r) for r in self.output_rules
        ):
            out.append(
                "output_rules: must be a tuple of callables (bound arguments, output shape) -> Violations"
            )
        return out


_TARGET_KINDS = get_args(TargetKind)


def _target_problems(targets: Any, name: str = "default_for") -> list[str]:
    allowed = _TARGET_KINDS
    if not isinstance(targets, tuple) or any(t not in allowed for t in targets):
        return [f"{name}: must be a tuple of {', '.join(map(repr, allowed))}"]
    return []


@dataclass(frozen=True)
class Adapter:
    """How a layer turns an input into ``to`` (``flatten`` makes vectors): ``args(shape)`` gives
    the layer's arguments for that input, or None if it can't. An ``implicit`` adapter is
    inserted by the checker on its own; another is only suggested in the error's help."""

    to: InputKind
    args: Callable[[Shape], Mapping[str, Any] | None]
    implicit: bool = True


@dataclass(frozen=True, kw_only=True)
class Layer(Component):
    """A layer: ``infer(shape, args) -> (output_shape, parameter_count)`` in pure Python.

    ``accepts`` is the input it needs (see :data:`INPUT_KINDS`); another input is fed through an
    implicit adapter layer when one declares it can (``adapters``), else it is an error. A
    ``merge`` layer takes several inputs and its ``infer`` gets a list of shapes; the one with
    ``default_merge`` joins branches written without a merge. A ``wrapper="layer"`` encloses one
    layer (``bidirectional(lstm 64)``): its ``infer(shape, args, inner, inner_layer)`` gets
    ``inner``, a callable ``shape -> (output_shape, params)`` running the wrapped layer's rule, and
    ``inner_layer``, its declaration (``inner.args`` holds the wrapped layer's bound arguments; a
    :class:`ShapeProblem` naming one of them puts the caret on it). A ``wrapper="chain"`` encloses a sub-network
    (``residual(...)``): its ``infer`` gets ``[input_shape, body_output_shape]``. ``transparent``
    layers only move or mask values (``dropout``, ``flatten``): the activation before them still
    decides what the network outputs. ``keeps_values`` layers output only values of their input
    (or zeros), rearranged or selected (``flatten``, ``reshape``, ``maxpool``): integer ids stay
    ids through them (``dropout`` is transparent but scales values while training, so not this).
    ``reads_ids`` names the parameter that bounds the integer ids the layer reads (``embedding``'s
    ``input_dim``): its input must be the program's input, through ``keeps_values`` layers only,
    and a dataset whose input is ids below a known bound (:attr:`DataInfo.vocabulary`) must fit.
    """

    kind: ClassVar[str] = "layer"
    infer: Callable[..., tuple[Shape, int]] = field(compare=False, repr=False)
    accepts: InputKind = "any"
    merge: bool = False
    default_merge: bool = False
    #: a merge that may also stand alone in a chain on one input (self-attention): its
    #: ``infer`` then gets that one shape, not a list, and ``build``'s layer is called on a
    #: list of one tensor
    alone: bool = False
    wrapper: Wrapper | None = None
    adapters: tuple[Adapter, ...] = ()
    transparent: bool = False
    keeps_values: bool = False
    reads_ids: str | None = None
    #: its weights' gradients are sparse on TensorFlow (only the rows looked up): see
    #: :attr:`Optimizer.sparse_rules`
    sparse_gradients: bool = False
    #: multiply-accumulates of one example (``netdsl summary --flops``):
    #: ``macs(input_shape, output_shape, args) -> int`` (a merge gets a list of input shapes; a
    #: ``wrapper="layer"`` also gets ``inner``, a callable ``shape -> MACs of the wrapped layer``)
    macs: Callable[..., int] | None = field(default=None, compare=False, repr=False)

    def problems(self) -> list[str]:
        out = super().problems()
        if not callable(self.infer):
            out.append("infer: must be callable: (shape, args) -> (output_shape, params)")
        if self.build is None:
            out.append("build: a layer needs a build function that returns the Keras layer")
        if self.alone and not self.merge:
            out.append("alone: only a merge layer can also stand alone")
        if self.default_merge and not self.merge:
            out.append("default_merge: only a merge layer can be the default merge")
        if not isinstance(self.adapters, tuple) or not all(
            isinstance(a, Adapter) and a.to in INPUT_KINDS and callable(a.args)
            for a in self.adapters
        ):
            out.append("adapters: must be a tuple of Adapter(to=<input kind>, args=<callable>)")
        if self.macs is not None and not callable(self.macs):
            out.append("macs: must be callable: (input_shape, output_shape, args) -> int")
        if self.reads_ids is not None and not (
            isinstance(self.reads_ids, str)
            and self.param(self.reads_ids) is not None
            and isinstance(getattr(self.param(self.reads_ids), "type", None), T.Int)
        ):
            out.append(f"reads_ids: {self.reads_ids!r} must name an integer parameter of the layer")
        return out


@dataclass(frozen=True)
class Target:
    """What a dataset's labels are: ``classes`` (``num_classes`` ids), ``binary`` (0/1), or
    ``regression`` (real values of ``shape``)."""

    kind: TargetKind
    num_classes: int = 0
    shape: Shape = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_classes": self.num_classes, "shape": list(self.shape)}

    @property
    def output_shape(self) -> Shape:
        """The network output this target needs (without the batch axis)."""
        if self.kind == "classes":
            return (self.num_classes,)
        if self.kind == "binary":
            return (1,)
        return self.shape or (1,)


@dataclass(frozen=True)
class InputInfo:
    """One named input of a dataset: its name (what a program starts a chain with), one
    example's shape, its dtype, and ``kind`` (what the values are: ``numeric`` numbers,
    or a kind a typed dataset declares, e.g. a CSV column's type)."""

    name: str
    shape: Shape
    dtype: str = "float32"
    kind: str = "numeric"
    #: integer ids below this number (a routed text column's token ids); None: not ids
    vocabulary: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "kind": self.kind,
            **({"vocabulary": self.vocabulary} if self.vocabulary is not None else {}),
        }


@dataclass(frozen=True)
class TargetInfo:
    """One named target of a dataset (an output of the same name trains on it)."""

    name: str
    target: Target
    class_names: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target.to_json(),
            "class_names": list(self.class_names),
        }


#: the names of a dataset's sole input and sole target (plain ``x`` and ``y``)
DEFAULT_INPUT, DEFAULT_TARGET = "x", "y"


@dataclass(frozen=True)
class DataInfo:
    """What ``check`` needs of a dataset, answered from metadata alone (never by loading it)."""

    input_shape: Shape
    target: Target
    train_size: int | None = None  # examples available for training, when known cheaply
    class_names: tuple[str, ...] = ()
    #: the input is integer ids below this number (imdb's ``num_words``); None: not declared
    vocabulary: int | None = None
    test_size: int | None = None  # examples of the test split, when known cheaply
    #: ``load`` returns :class:`Streams` (read batch by batch): ``check`` refuses the settings
    #: that need the data in memory (``validation_split``) at their line, not training
    streamed: bool = False
    #: named inputs and targets of a dataset with several (``load`` then returns dicts of
    #: arrays by name for x and y); empty: the sole input ``x`` and target ``y`` above
    inputs: tuple[InputInfo, ...] = ()
    targets: tuple[TargetInfo, ...] = ()

    @property
    def named_inputs(self) -> tuple[InputInfo, ...]:
        """Every input by name (``x`` alone for a dataset of one input)."""
        return self.inputs or (InputInfo(DEFAULT_INPUT, self.input_shape),)

    @property
    def named_targets(self) -> tuple[TargetInfo, ...]:
        """Every target by name (``y`` alone for a dataset of one target)."""
        return self.targets or (TargetInfo(DEFAULT_TARGET, self.target, self.class_names),)

    @property
    def is_named(self) -> bool:
        """Whether ``load`` gives dicts by name (several inputs or targets, or other names)."""
        return bool(self.inputs or self.targets)

    #: a typed table's feature columns (:mod:`netdsl.vocab.columns`): the model then takes one
    #: raw input per column and encodes it; ``input_shape`` is the encoded feature vector's
    columns: tuple[Column, ...] = ()

    def to_json(self) -> dict[str, Any]:
        named = (
            {
                "inputs": [i.to_json() for i in self.named_inputs],
                "targets": [t.to_json() for t in self.named_targets],
            }
            if self.is_named
            else {}
        )
        return {
            **named,
            **({"columns": [c.to_json() for c in self.columns]} if self.columns else {}),
            "input_shape": list(self.input_shape),
            "target": self.target.to_json(),
            "train_size": self.train_size,
            "test_size": self.test_size,
            "streamed": self.streamed,
            "class_names": list(self.class_names),
            "vocabulary": self.vocabulary,
        }


@dataclass(frozen=True)
class DataRequest:
    """A dataset as the program asks for it: its bound arguments, and ``path``, the file or
    folder the user pointed at (the dataset's own ``path`` argument, else ``--data``), or None."""

    name: str
    args: Mapping[str, Any]
    path: str | None = None
    env: str | None = None  # the dataset's own environment variable (e.g. NETDSL_MNIST)
    input_shape: Shape | None = None  # the program's `input:`, for datasets shaped by it


@dataclass(frozen=True)
class Streams:
    """Data read while training instead of held in memory (what ``load`` may return for big
    files): ``train(batch_size, seed)`` and ``test(batch_size)`` each return a fresh
    ``tf.data.Dataset`` of ``(x, y)`` batches, x shaped like the model input, y class ids or
    values as the target says; ``train`` yields each of its ``train_size`` examples once, in
    ``ceil(train_size / batch_size)`` batches. ``seed`` is an int or a scalar int64 tensor that training sets
    anew for each epoch (from the run's seed and the epoch number): order the examples with
    stateless random ops seeded by it, and a resumed run reads every epoch as the original did. ``record`` is written to the run folder's ``data.json`` (where the
    data came from, how it was split, with which seed); ``class_names`` as ``labels.json``."""

    train: Callable[[int, int | None], Any]
    test: Callable[[int], Any]
    train_size: int
    test_size: int
    class_names: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)
    #: what the stateful preprocessing layers learned from the training split (a typed CSV's
    #: means and vocabularies, by column name: :func:`netdsl.keras.features.adapt`)
    state: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Dataset(Component):
    """A dataset: ``describe(request) -> DataInfo`` (metadata only, for ``check``) and
    ``load(request, info)`` for training, returning ``(x_train, y_train, x_test, y_test)`` arrays
    (x shaped like ``info.input_shape``, y as its target says: class ids or values), or a
    :class:`Streams` whose ``tf.data`` pipelines read the data batch by batch.

    ``env`` names the environment variable that may point at this dataset's files; no other
    dataset reads it, so two datasets never read each other's files.

    ``emit(request, info) -> Code`` (optional) is what ``netdsl emit`` writes instead: the source
    of a function ``load_data(path)`` (``path`` the program's ``--data``, or None) that returns
    the same four arrays as ``load``, using NumPy, Keras and the standard library only.
    """

    kind: ClassVar[str] = "dataset"
    describe: Callable[[DataRequest], DataInfo] = field(compare=False, repr=False)
    load: Callable[[DataRequest, DataInfo], Sequence[Any] | Streams] = field(
        compare=False, repr=False
    )
    env: str | None = None

    def problems(self) -> list[str]:
        out = super().problems()
        for name in ("describe", "load"):
            if not callable(getattr(self, name)):
                out.append(f"{name}: must be callable")
        if self.env is not None and not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(self.env)):
            out.append(f"env: {self.env!r} is not an environment variable name")
        return out


@dataclass(frozen=True, kw_only=True)
class Callback(Component):
    """A training callback (``early_stopping(patience=3)``); ``build(**kwargs)`` returns the Keras
    callback. A parameter of type :class:`netdsl.vocab.types.Quantity` names a logged quantity
    (``val_loss``); ``check`` verifies the program logs it. ``sets_learning_rate``: it changes
    the optimizer's learning rate, which a schedule already decides (``check`` refuses both)."""

    kind: ClassVar[str] = "callback"
    sets_learning_rate: bool = False


@dataclass(frozen=True, kw_only=True)
class Schedule(Component):
    """A learning-rate schedule, usable wherever a learning rate goes. ``build(**kwargs)`` returns
    a ``keras.optimizers.schedules.LearningRateSchedule``. With ``uses_steps``, ``build`` is also
    given ``total_steps=`` (optimizer steps of the whole run: batches per epoch x epochs); its
    ``emit`` hook then gets ``args["total_steps"]``, the name the program computes it in."""

    kind: ClassVar[str] = "schedule"
    uses_steps: bool = False

    def problems(self) -> list[str]:
        out = super().problems()
        if not isinstance(self.uses_steps, bool):
            out.append("uses_steps: must be true or false")
        if self.build is None:
            out.append("build: a schedule needs a build function that returns the Keras schedule")
        return out


@dataclass(frozen=True, kw_only=True)
class Block(Component):
    """A block written in netdsl, shipped by a plugin: ``source`` is one definition
    ``block NAME(param, ...) = chain`` of this very name. A global name used like a layer (no
    ``use`` needed); checked and expanded exactly as a block the program defines."""

    kind: ClassVar[str] = "block"
    source: str = ""

    @property
    def file(self) -> str:
        """The name its spans carry (errors inside it say ``<block NAME>:line:col``)."""
        return f"<block {self.name}>"

    def _parsed(self) -> Any:
        """Its source parsed once (the program, or the error saying why it is not netdsl):
        registration checks it and the checker expands it from the same parse."""
        cached = self.__dict__.get("_parsed_source")
        if cached is None:
            from ..lang.parser import parse  # the parser imports no plugin code: no cycle

            try:
                cached = parse(self.source, self.file)
            except Exception as e:  # noqa: BLE001 - a NetdslError: the text is not netdsl
                cached = e
            object.__setattr__(self, "_parsed_source", cached)
        return cached

    def definition(self) -> Any:
        """The parsed :class:`netdsl.lang.ir.BlockDef` (parsed once, on first use)."""
        program = self._parsed()
        if isinstance(program, Exception) or len(program.blocks) != 1:
            return None
        return program.blocks[0]

    def problems(self) -> list[str]:
        out = super().problems()
        if not isinstance(self.source, str):
            return [*out, "source: must be netdsl text (a string)"]
        program = self._parsed()
        if isinstance(program, Exception):
            return [*out, f"source: {program}"]
        names = [b.name for b in program.blocks]
        if program.settings or program.network is not None or program.uses or names != [self.name]:
            out.append(
                f"source: must be exactly one definition `block {self.name}(...) = ...`, "
                f"found {len(names)} block(s)"
                + (", settings, a network or `use` lines" if len(names) == 1 else "")
            )
        return out


KINDS: Mapping[str, type[Component]] = {
    cls.kind: cls
    for cls in (
        Activation,
        Loss,
        Optimizer,
        Regularizer,
        Metric,
        Layer,
        Dataset,
        Callback,
        Schedule,
        Block,
    )
}


@dataclass(frozen=True)
class Code:
    """Python source written by a component's ``emit``: ``source`` (an expression, or a
    dataset's ``load_data`` function), the ``imports`` lines it needs (``import gzip``) and the
    top-level ``definitions`` it uses (a class or function, written once into the program)."""

    source: str
    imports: tuple[str, ...] = ()
    definitions: tuple[str, ...] = ()


def keras_value(value: str) -> Callable[[], str]:
    """A ``build`` for a component Keras knows by name (``"relu"``, ``"accuracy"``): returns
    ``value``; ``netdsl emit`` writes it as that string."""

    def build() -> str:
        return value

    build.__qualname__ = f"keras_value({value!r})"
    build.keras_value = value  # type: ignore[attr-defined]
    return build


def keras_factory(path: str, **fixed: Any) -> Callable[..., Any]:
    """A ``build`` that imports Keras on call and returns ``keras.<path>(**fixed, **kwargs)``."""

    def build(**kwargs: Any) -> Any:
        import keras

        obj: Any = keras
        for part in path.split("."):
            obj = getattr(obj, part)
        return obj(**fixed, **kwargs)

    build.__qualname__ = f"keras_factory({path!r})"
    build.keras_path = path  # type: ignore[attr-defined]
    return build
