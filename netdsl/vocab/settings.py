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

__all__ = ["SETTINGS", "TABLE", "Setting", "Settings", "Stage", "literal", "value_to_ir"]

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
    Setting("input", T.ShapeT(), None, "input shape without the batch axis (default: the dataset's)",
            "check"),
    Setting("normalize", T.Bool(), False,
            "standardise the input features: a Keras Normalization layer adapted on the training "
            "data, saved inside the model", "train", flag=True),
    Setting("loss", T.Ref("loss"), None,
            "the loss (default: the one the dataset's target calls for, e.g. "
            "categorical_crossentropy for classes)", "train"),
    Setting("optimizer", T.Ref("optimizer"), "adam", "an optimizer, e.g. adam(learning_rate=1e-3)",
            "train"),
    Setting("metrics", T.ListOf(T.Ref("metric")), None,
            "metrics to report (default: the target's, e.g. accuracy for classes)", "train"),
    Setting("epochs", T.Int(min=1, max=1_000_000), 10, "passes over the training data", "train",
            flag=True),
    Setting("batch_size", T.Int(min=1, max=1 << 24), 32, "examples per training step", "train",
            flag=True),
    Setting("validation_split", T.Float(min=0, max=0.99), 0.0,
            "fraction of the training data held out for validation", "train", flag=True),
    Setting("callbacks", T.ListOf(T.Ref("callback")), None,
            "training callbacks, e.g. [early_stopping(monitor=val_loss, patience=3)]", "train"),
    Setting("seed", T.Int(min=0, max=2**32 - 1), None, "random seed for a reproducible run", "train",
            flag=True),
    Setting("backend", T.Choice(tuple(BACKENDS)), None,
            "the Keras backend: tensorflow or jax (default: $KERAS_BACKEND, else tensorflow)",
            "train", flag=True),
)

#: name -> row
TABLE: Mapping[str, Setting] = MappingProxyType({s.name: s for s in SETTINGS})


class Settings(Mapping[str, Any]):
    """The effective value of every setting (read-only). ``replace`` gives a copy with some
    values changed, validated by the same types as the program's own lines."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        unknown = set(values) - set(TABLE)
        if unknown:
            raise KeyError(f"not settings: {', '.join(sorted(unknown))}")
        self._values = MappingProxyType({s.name: values.get(s.name, s.default) for s in SETTINGS})

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({dict(self._values)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and dict(self._values) == dict(other._values)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._values.items())))

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (Python values, e.g. from the command line), each checked by
        its row's type; raises :class:`~netdsl.errors.NetdslSettingError` naming the setting."""
        from ..errors import NetdslArgumentError, NetdslSettingError

        values = dict(self._values)
        for key, value in changes.items():
            row = TABLE.get(key)
            if row is None:
                raise NetdslSettingError(f"unknown setting `{key}`", code="NDL004")
            if value is None:
                values[key] = None
                continue
            try:
                node = literal(value)
                values[key] = row.type.convert(node, _NO_REFERENCES)
            except (T.Problem, TypeError) as p:
                message = p.message if isinstance(p, T.Problem) else str(p)
                raise NetdslArgumentError(f"bad {row.option}: {message}", code="NDL005") from None
        return Settings(values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: references as ``{"kind", "name", "args"}``, shapes as lists."""
        from .components import to_json

        return {k: to_json(v) for k, v in self._values.items()}

    def to_ir(self) -> tuple[ir.Setting, ...]:
        """Every setting that has a value, as program lines (what the run folder's spec writes)."""
        out = []
        for row in SETTINGS:
            value = self._values[row.name]
            if value is None:
                continue
            out.append(ir.Setting(row.name, value_to_ir(value)))
        return tuple(out)


class _NoReferences:
    """A binder for values from the command line, which are numbers, never component names."""

    registry: Any = None

    def bind_ref(self, kind: str, value: ir.Value) -> Any:
        raise TypeError(f"expected a value, not {kind} names")


_NO_REFERENCES = _NoReferences()


def literal(value: Any) -> ir.Value:
    """A Python number, bool, string or shape as the IR value a program would write for it."""
    if isinstance(value, bool):
        return ir.Bool(value)
    if isinstance(value, int):
        return ir.Int(value)
    if isinstance(value, float):
        return ir.Float(value)
    if isinstance(value, str):
        return ir.Name(value) if value.isidentifier() else ir.Str(value)
    if isinstance(value, (tuple, list)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return ir.Shape(tuple(value)) if len(value) > 1 else ir.Int(value[0]) if value else ir.Tuple(())
    raise TypeError(f"cannot write {value!r} as a netdsl value")


def value_to_ir(value: Any) -> ir.Value:
    """A bound value (numbers, shapes, references such as ``adam(learning_rate=0.01)``) as IR;
    a reference keeps only the arguments that differ from its component's defaults."""
    if isinstance(value, Ref):
        defaults = {p.name: p.default for p in value.component.params} if value.component else {}
        args = tuple(ir.Arg(value_to_ir(v), k) for k, v in value.args
                     if v is not None and defaults.get(k, object()) != v)
        return ir.Call(value.name, args) if args else ir.Name(value.name)
    if isinstance(value, list):
        return ir.List(tuple(value_to_ir(v) for v in value))
    if isinstance(value, tuple) and not all(isinstance(v, int) for v in value):
        return ir.Tuple(tuple(value_to_ir(v) for v in value))
    return literal(value)
