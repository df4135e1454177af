"""``npz`` with named arrays: ``x_<name>`` arrays are the inputs and ``y_<name>`` arrays the
targets of the same names (``x`` and ``y`` keep the names ``x`` and ``y``), each either split
(``x_<name>_train`` / ``x_<name>_test``) or whole and split by the seeded ``test_split``.

A graph program starts chains with the input names and names its outputs like the targets.
``describe`` reads headers and the labels (block by block); ``load`` returns dicts by name.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import Member, Npz
from netdsl.vocab.components import DataInfo, DataRequest, InputInfo, TargetInfo

from . import tabular
from .keras_datasets import split_seeded
from .tabular import (
    _check_member,
    _encode,
    _examples,
    _input_shape,
    _label_shape,
    _Labels,
    _npz_target,
    _test_count,
    npz_members,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["NPZ", "NamedLayout", "describe_named", "load_named", "named_layout"]

#: ``x``, ``x_train``, ``x_digit``, ``x_digit_test``: (side, name, split)
_ARRAY = re.compile(
    r"(?P<side>[xy])(?:_(?P<name>[A-Za-z][A-Za-z0-9_]*?))?(?:_(?P<split>train|test))?"
)
_SPLITS = ("train", "test")


@dataclass(frozen=True)
class NamedLayout:
    """The archive's arrays by side and name: ``arrays[("x", "a")]`` is ``{"train": member,
    "test": member}`` for a split file, ``{"all": member}`` for a whole one."""

    path: Path
    arrays: dict[tuple[str, str], dict[str, Member]]
    split: bool

    def names(self, side: str) -> list[str]:
        return [n for s, n in self.arrays if s == side]

    def first(self, side: str, name: str) -> Member:
        return next(iter(self.arrays[(side, name)].values()))


def _parse(members: dict[str, Member]) -> dict[tuple[str, str], dict[str, Member]]:
    found: dict[tuple[str, str], dict[str, Member]] = {}
    for key, member in members.items():
        m = _ARRAY.fullmatch(key)
        if m is None:
            continue
        side, name, split = m["side"], m["name"], m["split"]
        if name in _SPLITS and split is None:  # `x_train`: the plain split, not a name
            name, split = None, name
        name = name or side
        found.setdefault((side, name), {})[split or "all"] = member
    return found


def named_layout(path: Path, members: dict[str, Member]) -> NamedLayout | None:
    """The named layout of an archive, or None when it is the plain one (``x``/``y`` or
    ``x_train``... only), which ``npz`` reads as before."""
    arrays = _parse(members)
    if {n for _, n in arrays} <= {"x", "y"}:
        return None
    sides = {s for s, _ in arrays}
    if sides != {"x", "y"}:
        missing = "x_<name> input" if "x" not in sides else "y_<name> target"
        raise NetdslDataError(
            f"{path}: holds {', '.join(sorted(members))}; an npz of named arrays needs at "
            f"least one {missing} array",
            help="np.savez(path, x_a=..., x_b=..., y_same=...): inputs a and b, target same",
        )
    kinds = {frozenset(v) for v in arrays.values()}
    if kinds not in ({frozenset(_SPLITS)}, {frozenset({"all"})}):
        raise NetdslDataError(
            f"{path}: every named array is either split (`x_a_train`, `x_a_test`) or whole "
            f"(`x_a`), not a mix: found {', '.join(sorted(members))}"
        )
    split = kinds == {frozenset(_SPLITS)}
    layout = NamedLayout(path, arrays, split)
    _check_rows(layout)
    return layout


def _check_rows(layout: NamedLayout) -> None:
    """Every array has examples, and the same number of them on each side of the split."""
    for part in _SPLITS if layout.split else ("all",):
        counts = {}
        for parts in layout.arrays.values():
            member = parts[part]
            _check_member(layout.path, member)
            counts[member.name] = member.shape[0]
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            raise NetdslDataError(
                f"{layout.path}: the arrays have different numbers of examples ({shown}); "
                "they must match one to one"
            )


def describe_named(request: DataRequest, layout: NamedLayout) -> DataInfo:
    """Inputs and targets by name from the headers (targets from their labels, block by
    block, as the plain ``npz`` reads its one target)."""
    inputs = tuple(
        InputInfo(n, _input_shape(layout.first("x", n)), str(layout.first("x", n).dtype))
        for n in layout.names("x")
    )
    targets = []
    for name in layout.names("y"):
        parts = layout.arrays[("y", name)]
        labels = _Labels.of(next(iter(parts.values())))
        with Npz(layout.path) as npz:
            for member in parts.values():
                for block in npz.blocks(member.name):
                    labels.add(block)
        shape = _label_shape(next(iter(parts.values())))
        target = _npz_target(layout.path, labels, request.args["task"], shape)
        targets.append(TargetInfo(name, target))
    first = next(iter(layout.arrays.values()))
    if layout.split:
        train, test = first["train"].shape[0], first["test"].shape[0]
    else:
        n = first["all"].shape[0]
        test = _test_count(n, request.args["test_split"])
        train = n - test
    return DataInfo(
        inputs[0].shape,
        targets[0].target,
        train_size=train,
        test_size=test,
        inputs=inputs,
        targets=tuple(targets),
    )


def load_named(
    request: DataRequest, info: DataInfo, layout: NamedLayout
) -> tuple[dict[str, np.ndarray], ...]:
    """``(x_train, y_train, x_test, y_test)``, each a dict of arrays by name."""
    keys = [m.name for parts in layout.arrays.values() for m in parts.values()]
    with Npz(layout.path) as npz:
        got = npz.arrays(keys)
    shapes = {i.name: i.shape for i in info.named_inputs}
    targets = {t.name: t.target for t in info.named_targets}

    def side(part: str) -> tuple[dict[str, Any], dict[str, Any]]:
        xs = {
            n: _examples(layout.path, p[part], got[p[part].name], shapes[n])
            for (s, n), p in layout.arrays.items()
            if s == "x"
        }
        ys = {
            n: _encode(got[p[part].name], targets[n])
            for (s, n), p in layout.arrays.items()
            if s == "y"
        }
        return xs, ys

    if layout.split:
        (xa, ya), (xb, yb) = side("train"), side("test")
        return xa, ya, xb, yb
    x, y = side("all")
    n = len(next(iter(x.values())))
    train, test = split_seeded(n, request.args["test_split"], request.args["seed"])
    if not len(train) or not len(test):
        raise NetdslDataError(
            f"{layout.path}: {n} examples split into {len(train)} training and "
            f"{len(test)} test; give more examples or another test_split"
        )

    def pick(d: dict[str, Any], rows: Any) -> dict[str, Any]:
        return {k: v[rows] for k, v in d.items()}

    return pick(x, train), pick(y, train), pick(x, test), pick(y, test)


def describe_npz(request: DataRequest) -> DataInfo:
    """Named arrays by name, else the plain layout (:func:`.tabular.describe_npz`)."""
    named = named_layout(*npz_members(request))
    if named is not None:
        return describe_named(request, named)
    return tabular.describe_npz(request)


def load_npz(request: DataRequest, info: DataInfo) -> tuple[Any, ...]:
    """Named arrays as dicts by name, else the plain layout (:func:`.tabular.load_npz`)."""
    named = named_layout(*npz_members(request))
    if named is not None:
        return load_named(request, info, named)
    return tabular.load_npz(request, info)


#: ``npz``, reading named arrays (``x_a``, ``y_digit``) as a graph's inputs and targets too
NPZ = dataclasses.replace(
    tabular.NPZ,
    describe=describe_npz,
    load=load_npz,
    description=tabular.NPZ.description
    + " Named arrays x_<name> / y_<name> (each with _train/_test, or all split by test_split) "
    "are the inputs and targets of those names, for a graph program.",
)
