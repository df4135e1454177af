"""The settings a program may give (``epochs: 5``), as one table, and the frozen values read from it.

Each row says the setting's name, type, default, help and the stage that consumes it; the
parser's hints, the checker, training, ``netdsl run``'s override flags and ``--help`` all read
this table, and every value is validated once, by the row's type. Adding a setting is one row
here plus the code that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from ..lang import ir
from . import types as T
from .backends import BACKENDS
from .components import Ref

__all__ = [
    "SETTINGS",
    "TABLE",
    "Setting",
    "Settings",
    "Stage",
    "convert_override",
    "literal",
    "value_to_ir",
]

#: who reads a setting: the checker (shapes), the data loader, or training
Stage = Literal["check", "data", "train"]


@dataclass(frozen=True)
class Setting:
    """One row: ``default`` is a Python value, or for a reference the default component's name
    (a tuple of names for a list); None means "decided from the dataset" or "not set". ``flag``
    makes it a ``netdsl run --NAME`` override too."""

    name: str
    type: T.ParamType
    default: Any
    help: str
    stage: Stage
    flag: bool = False

    @property
    def option(self) -> str:
        """The command-line flag, e.g. ``--batch-size``."""
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("dataset", T.Ref("dataset"), "mnist", "the data to train and evaluate on", "data"),
    Setting(
        "input",
        T.ShapeT(),
        None,
        "input shape without the batch axis (default: the dataset's)",
        "check",
    ),
    Setting(
        "normalize",
        T.Bool(),
        False,
        "standardise the input features: a Keras Normalization layer adapted on the training "
        "data, saved inside the model",
        "train",
        flag=True,
    ),
    Setting(
        "loss",
        T.PerOutput(T.Ref("loss")),
        None,
        "the loss (default: the one the dataset's target calls for, e.g. "
        "categorical_crossentropy for classes); per output: {digit: ..., odd: ...}",
        "train",
    ),
    Setting(
        "optimizer",
        T.Ref("optimizer"),
        "adam",
        "an optimizer, e.g. adam(learning_rate=1e-3)",
        "train",
    ),
    Setting(
        "metrics",
        T.PerOutput(T.ListOf(T.Ref("metric"))),
        None,
        "metrics to report (default: the target's, e.g. accuracy for classes); per output: "
        "{digit: [accuracy], odd: [auc]}",
        "train",
    ),
    Setting(
        "loss_weights",
        T.PerOutput(T.Float(min=0, max=1e6)),
        None,
        "how much each output's loss counts in the total, {digit: 1.0, odd: 0.5} (default 1)",
        "train",
    ),
    Setting(
        "epochs",
        T.Int(min=1, max=1_000_000),
        10,
        "passes over the training data",
        "train",
        flag=True,
    ),
    Setting(
        "batch_size",
        T.Int(min=1, max=1 << 24),
        32,
        "examples per training step",
        "train",
        flag=True,
    ),
    Setting(
        "validation_split",
        T.Float(min=0, max=0.99),
        0.0,
        "fraction of the training data held out for validation",
        "train",
        flag=True,
    ),
    Setting(
        "callbacks",
        T.ListOf(T.Ref("callback")),
        None,
        "training callbacks, e.g. [early_stopping(monitor=val_loss, patience=3)]",
        "train",
    ),
    Setting(
        "seed",
        T.Int(min=0, max=2**32 - 1),
        None,
        "random seed for a reproducible run",
        "train",
        flag=True,
    ),
    Setting(
        "backend",
        T.Choice(tuple(BACKENDS)),
        None,
        "the Keras backend: tensorflow or jax (default: $KERAS_BACKEND, else tensorflow)",
        "train",
        flag=True,
    ),
)

#: name -> row
TABLE: Mapping[str, Setting] = MappingProxyType({s.name: s for s in SETTINGS})


@dataclass(frozen=True)
class Settings(Mapping[str, Any]):
    """The effective value of every setting, one typed field per row of :data:`SETTINGS` (in
    the table's order; a test keeps the two in step). Code reads fields (``settings.epochs``);
    the read-only mapping view (``settings["epochs"]``) is kept for library callers.
    ``replace`` gives a copy with some values changed, validated by the table's types."""

    dataset: Ref | None = None
    input: tuple[int, ...] | None = None
    normalize: bool = False
    loss: Ref | T.ByOutput | None = None
    optimizer: Ref | None = None
    metrics: list[Ref] | T.ByOutput | None = None
    loss_weights: float | T.ByOutput | None = None
    epochs: int = 10
    batch_size: int = 32
    validation_split: float = 0.0
    callbacks: list[Ref] | None = None
    seed: int | None = None
    backend: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a name -> value mapping; a setting left out takes its row's default
        (a reference's default is its component's name here, bound by the checker)."""
        if not values.keys() <= TABLE.keys():
            unknown = sorted(set(values) - set(TABLE))
            raise KeyError(f"not settings: {', '.join(unknown)}")
        made = object.__new__(cls)  # every check makes one: without the frozen __init__'s cost
        made.__dict__.update({s.name: values.get(s.name, s.default) for s in SETTINGS})
        return made

    def __getitem__(self, key: str) -> Any:
        if key not in TABLE:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """``settings.get("seed")``: the Mapping's own, without its try/except round trip."""
        return self.__dict__.get(key, default) if key in TABLE else default

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE)

    def __len__(self) -> int:
        return len(TABLE)

    def __hash__(self) -> int:
        return hash(tuple((k, repr(getattr(self, k))) for k in TABLE))

    def references(self) -> Iterator[Ref]:
        """Every component reference among the values (``adam(...)``, each metric, ...)."""
        for value in self.__dict__.values():
            for v in value.values() if isinstance(value, dict) else (value,):
                if isinstance(v, Ref):
                    yield v
                elif isinstance(v, list):
                    yield from (x for x in v if isinstance(x, Ref))

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (Python values, e.g. from the command line), each checked by
        its row's type; raises :class:`~netdsl.errors.NetdslSettingError` naming the setting."""
        values = {k: getattr(self, k) for k in TABLE}
        for key, value in changes.items():
            problem, values[key] = convert_override(key, value)
            if problem is not None:
                raise problem
        return Settings(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: references as ``{"kind", "name", "args"}``, shapes as lists."""
        from .components import to_json

        return {k: to_json(getattr(self, k)) for k in TABLE}

    def to_ir(self) -> tuple[ir.Setting, ...]:
        """Every setting that has a value, as program lines (what the run folder's spec writes)."""
        out = []
        for row in SETTINGS:
            value = getattr(self, row.name)
            if value is None:
                continue
            out.append(ir.Setting(row.name, value_to_ir(value, row.type)))
        return tuple(out)


def convert_override(key: str, value: Any) -> tuple[Any, Any]:
    """``(None, value)`` for a Python value given for setting ``key`` (``epochs=2`` from the
    command line or a library call) that its row's type accepts, else ``(error, None)``: an
    unknown setting (NDL004) or a bad value (NDL005), named by the setting."""
    from ..errors import NetdslArgumentError, NetdslSettingError

    row = TABLE.get(key)
    if row is None:
        close = _suggest(key)
        return NetdslSettingError(
            f"unknown setting `{key}`",
            code="NDL004",
            help=f"did you mean `{close}`?" if close else None,
        ), None
    if value is None:
        if row.default is None:
            return None, None
        return NetdslArgumentError(
            f"bad `{key}`: it needs a value ({row.type.label})", code="NDL005"
        ), None
    try:
        return None, row.type.convert(literal(value), _NO_REFERENCES)
    except (T.Problem, TypeError) as p:
        message = p.message if isinstance(p, T.Problem) else str(p)
        return NetdslArgumentError(f"bad `{key}`: {message}", code="NDL005"), None


def _suggest(key: str) -> str | None:
    from .registry import suggest

    return suggest(key, TABLE)


class _NoReferences:
    """A binder for values from the command line, which are numbers, never component names."""

    registry: Any = None

    def bind_ref(self, kind: str, value: ir.Value) -> Any:
        raise TypeError(f"expected a value, not {kind} names")


_NO_REFERENCES = _NoReferences()


def literal(value: Any) -> ir.Value:
    """A Python number, bool, string or shape as the IR value a program would write for it.
    A string is always written as a string (``label="label"``): a bare name would be read back
    as a name, which a string parameter refuses."""
    if isinstance(value, bool):
        return ir.Bool(value)
    if isinstance(value, int):
        return ir.Int(value)
    if isinstance(value, float):
        return ir.Float(value)
    if isinstance(value, str):
        return ir.Str(value)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        if len(value) > 1:
            return ir.Shape(tuple(value))
        return ir.Int(value[0]) if value else ir.Tuple(())
    raise TypeError(f"cannot write {value!r} as a netdsl value")


#: the parameter types whose words are written bare (``padding=same``, ``monitor=val_loss``):
#: they read a name as well as a string, and a bare word is the canonical form
_WORD_TYPES = (T.Choice, T.Quantity)


def value_to_ir(value: Any, type: T.ParamType | None = None) -> ir.Value:
    """A bound value (numbers, strings, shapes, references such as ``adam(learning_rate=0.01)``)
    as IR; ``type`` is the parameter type it was bound by, when known (a word of a choice is
    written bare, any other string quoted). A reference keeps only the arguments that differ
    from its component's defaults."""
    if isinstance(value, dict):  # a value per output
        item = getattr(type, "item", None)
        return ir.Map(tuple(ir.Arg(value_to_ir(v, item), str(k)) for k, v in value.items()))
    if isinstance(value, Ref):
        params = {p.name: p for p in value.component.params} if value.component else {}
        args = tuple(
            ir.Arg(value_to_ir(v, params[k].type if k in params else None), k)
            for k, v in value.args
            if v is not None and (k not in params or params[k].default != v)
        )
        return ir.Call(value.name, args) if args else ir.Name(value.name)
    if isinstance(value, list):
        item = getattr(type, "item", None)
        return ir.List(tuple(value_to_ir(v, item) for v in value))
    if isinstance(value, tuple) and not all(isinstance(v, int) for v in value):
        return ir.Tuple(tuple(value_to_ir(v) for v in value))
    if isinstance(value, str) and isinstance(type, _WORD_TYPES) and value.isidentifier():
        return ir.Name(value)
    return literal(value)
