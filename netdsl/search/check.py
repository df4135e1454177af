"""The static check of a whole search space, before anything trains.

While the space's checked points number at most :data:`ENUMERATE_LIMIT` every one is checked.
Above it, a pairwise covering set is checked: every value of every parameter meets every value
of every other parameter (that can be active with it) in at least one checked point, plus the
two points that take each parameter's first and last value. So any mistake that two parameters'
values make together is found; one that needs three or more at once may be missed by ``check``,
and is caught when the tuner resolves and checks each point before its trial starts (the point
is refused, never trained). A range is checked at every value when it has at most
:data:`ALL_VALUES_UP_TO` of them, else at its two ends and its middle (docs/search.md).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checking.checker import check
from ..checking.plan import CheckedModel
from ..errors import NetdslError, Note
from ..lang.space import Param, Point, Space, resolve
from ..vocab.registry import Registry

__all__ = [
    "ALL_VALUES_UP_TO",
    "ENUMERATE_LIMIT",
    "PointResult",
    "SpaceReport",
    "check_point",
    "check_space",
    "points",
]

#: every checked point is enumerated up to this many; above, a pairwise covering set
ENUMERATE_LIMIT = 256
#: a covering set stops growing here (each point is one ordinary check, a few ms)
COVER_LIMIT = 1024
#: an integer range with at most this many values is checked at every one
ALL_VALUES_UP_TO = 8


@dataclass(frozen=True)
class PointResult:
    """One checked point: its plan, or why it was refused (errors, or the constraint)."""

    point: Point
    model: CheckedModel | None
    errors: tuple[NetdslError, ...] = ()
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return self.model is not None and self.refused is None


def check_point(
    space: Space,
    point: Point,
    registry: Registry,
    *,
    data: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    max_params: int | None = None,
    macs: bool = False,
) -> PointResult:
    """Resolve one point to a plain program and check it; over ``max_params`` it is refused."""
    program = resolve(space, point)
    try:
        model = check(program, registry, data=data, overrides=overrides)
    except NetdslError as e:
        return PointResult(point, None, e.errors, "it fails the check")
    if max_params is not None and model.total_params > max_params:
        return PointResult(
            point, model, (), f"{model.total_params:,} parameters > tune_max_params {max_params:,}"
        )
    return PointResult(point, model)


@dataclass
class SpaceReport:
    """What the static check found: the space's size, how it was covered, the errors (each
    with the points it occurs in), and the parameter and MAC ranges over the passing points."""

    size: int
    continuous: bool
    method: str
    checked: int = 0
    passed: int = 0
    over_limit: int = 0
    errors: list[NetdslError] = field(default_factory=list)
    failing: list[Point] = field(default_factory=list)
    params: tuple[int, int] | None = None
    macs: tuple[int, int] | None = None
    seconds: float = 0.0
    #: the first passing point's plan (its settings tell the tuner the metrics, the split)
    example: CheckedModel | None = None
    #: the points that pass (kept while every combination is checked: at most ENUMERATE_LIMIT)
    passing: list[Point] = field(default_factory=list)

    def allowed(self, space: Space) -> dict[str, tuple[int, ...]]:
        """Each choice's options that some passing point takes, for the choices where some
        option is in none. Only when every combination was checked (then an option outside
        is in no valid point at all); else nothing is left out."""
        if self.method != "every combination" or not self.passing:
            return {}
        out = {}
        for p in space.params:
            if not p.options:
                continue
            seen = sorted({int(pt[p.name]) for pt in self.passing if p.name in pt})
            if seen and len(seen) < len(p.options):
                out[p.name] = tuple(seen)
        return out

    def lines(self) -> list[str]:
        """The report as `netdsl check` prints it."""
        size = f"{self.size:,} point{'s' if self.size != 1 else ''}"
        if self.continuous:
            size += " (and real ranges)"
        out = [
            f"search space: {size}; checked {self.checked:,} by {self.method}"
            f" in {self.seconds:.2f} s: {self.passed:,} pass"
        ]
        if self.failing:
            out[0] += f", {len(self.failing):,} fail the check"
        if self.over_limit:
            out[0] += f", {self.over_limit:,} over tune_max_params"
        if self.params is not None:
            lo, hi = self.params
            out.append(f"parameters: {lo:,} to {hi:,}")
        if self.macs is not None:
            lo, hi = self.macs
            out.append(f"MACs per example: {lo:,} to {hi:,}")
        return out


def points(space: Space, limit: int = ENUMERATE_LIMIT) -> tuple[list[dict[str, Any]], str]:
    """The points the static check tries, and how they were chosen."""
    every = list(itertools.islice(_enumerate(space, 0, {}), limit + 1))
    if len(every) <= limit:
        return every, "every combination"
    return _cover(space), "a pairwise covering set"


def _enumerate(space: Space, i: int, point: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every combination of the parameters' check values, inactive parameters left out (lazy,
    so a 10**12-point space costs nothing past the limit)."""
    if i == len(space.params):
        yield dict(point)
        return
    p = space.params[i]
    if not space.active(p, point):
        yield from _enumerate(space, i + 1, point)
        return
    for v in p.check_values(ALL_VALUES_UP_TO):
        point[p.name] = v
        yield from _enumerate(space, i + 1, point)
    del point[p.name]


def _needs(space: Space, p: Param) -> dict[str, int]:
    """The step-choice options ``p`` needs to be active: ``{step choice: option}``."""
    out: dict[str, int] = {}
    q = p
    while q.parent is not None:
        out[q.parent[0]] = q.parent[1]
        q = space.param(q.parent[0])
    return out


def _cover(space: Space) -> list[dict[str, Any]]:
    """A greedy pairwise covering set (AETG-like): rows are added until every pair of values
    of two parameters that can be active together is in some row, or COVER_LIMIT rows."""
    params = space.params
    values = [p.check_values(ALL_VALUES_UP_TO) for p in params]
    needs = [_needs(space, p) for p in params]
    index = {p.name: i for i, p in enumerate(params)}

    def fits(i: int, a: Any, j: int, b: Any) -> bool:
        want = {**needs[i]}
        for k, v in needs[j].items():
            if want.get(k, v) != v:
                return False
            want[k] = v
        return bool(want.get(params[i].name, a) == a and want.get(params[j].name, b) == b)

    todo = {
        (i, a, j, b)
        for i, j in itertools.combinations(range(len(params)), 2)
        for a in values[i]
        for b in values[j]
        if fits(i, a, j, b)
    }
    rows: list[dict[str, Any]] = [
        _row(space, values, {}, lambda p, v: 0, first) for first in (True, False)
    ]
    for row in rows:
        _strike(todo, row, index)
    while todo and len(rows) < COVER_LIMIT:
        i, a, j, b = min(todo)
        seed = {params[i].name: a, params[j].name: b, **_names(space, needs[i], needs[j])}

        def gain(p: Param, v: Any, row: dict[str, Any] = seed) -> int:
            k = index[p.name]
            return sum(
                1
                for q, w in row.items()
                if q in index and ((index[q], w, k, v) in todo or (k, v, index[q], w) in todo)
            )

        row = _row(space, values, seed, gain, True)
        _strike(todo, row, index)
        rows.append(row)
    return rows


def _names(space: Space, *needs: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in needs:
        out.update(n)
    return out


def _row(
    space: Space, values: list[tuple[Any, ...]], seed: dict[str, Any], gain: Any, first: bool
) -> dict[str, Any]:
    """One point: the seed's values, then each other active parameter at the value that covers
    most pairs still to cover (ties: its first value, or its last when ``first`` is False)."""
    row = dict(seed)
    for p, vals in zip(space.params, values):
        if p.name in row or not space.active(p, row):
            continue
        order = vals if first else tuple(reversed(vals))
        row[p.name] = max(order, key=lambda v: gain(p, v))
    return {k: v for k, v in row.items() if space.active(space.param(k), row)}


def _strike(
    todo: set[tuple[int, Any, int, Any]], row: dict[str, Any], index: dict[str, int]
) -> None:
    items = sorted((index[k], v) for k, v in row.items())
    for (i, a), (j, b) in itertools.combinations(items, 2):
        todo.discard((i, a, j, b))


def check_space(
    space: Space,
    registry: Registry,
    *,
    data: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    max_params: int | None = None,
    macs: Callable[[CheckedModel], int] | None = None,
) -> SpaceReport:
    """Check the space's points (:func:`points`); each distinct error is kept once, with a note
    at the span of each option that the first failing point chose. ``macs`` counts a passing
    point's multiply-accumulates (:func:`netdsl.tools.flops.model_macs`), for their range."""
    started = time.perf_counter()
    size, continuous = space.size()
    chosen, method = points(space)
    report = SpaceReport(size, continuous, method, checked=len(chosen))
    seen: dict[tuple[Any, ...], tuple[NetdslError, Point]] = {}
    counts: dict[tuple[Any, ...], int] = {}
    sizes: list[int] = []
    flops: list[int] = []
    for point in chosen:
        result = check_point(
            space, point, registry, data=data, overrides=overrides, max_params=max_params
        )
        if result.errors:
            report.failing.append(point)
            for e in result.errors:
                key = _key(e)
                counts[key] = counts.get(key, 0) + 1
                if key not in seen:
                    seen[key] = (e, point)
            continue
        assert result.model is not None
        if result.refused:
            report.over_limit += 1
            continue
        report.passed += 1
        report.passing.append(point)
        report.example = report.example or result.model
        sizes.append(result.model.total_params)
        if macs is not None:
            flops.append(macs(result.model))
    for key, (e, failed) in seen.items():
        causes = _causes(space, failed, key, registry, data, overrides)
        _at_point(e, space, failed, causes)
        e.help = (e.help + "; " if e.help else "") + (
            f"fails in {counts[key]:,} of {report.checked:,} checked points"
        )
        report.errors.append(e)
    if sizes:
        report.params = (min(sizes), max(sizes))
    if flops:
        report.macs = (min(flops), max(flops))
    report.seconds = time.perf_counter() - started
    return report


def _key(e: NetdslError) -> tuple[Any, ...]:
    return (e.code, e.message, e.span.start if e.span else None)


def _causes(
    space: Space,
    point: Point,
    key: tuple[Any, ...],
    registry: Registry,
    data: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None,
) -> set[str]:
    """The parameters of ``point`` whose value makes the error: those for which another of
    their values (the rest kept) makes this error go away. One check per value tried."""
    causes = set()
    for p in space.params:
        if p.name not in point or not space.active(p, point):
            continue
        for v in p.check_values(ALL_VALUES_UP_TO):
            if v == point[p.name]:
                continue
            other = {**point, p.name: v}
            other = {k: x for k, x in other.items() if space.active(space.param(k), other)}
            other.update(_defaults(space, other))
            result = check_point(space, other, registry, data=data, overrides=overrides)
            if all(_key(e) != key for e in result.errors):
                causes.add(p.name)
                break
    return causes


def _defaults(space: Space, point: Point) -> dict[str, Any]:
    """First values for the parameters a changed step choice made active."""
    out: dict[str, Any] = {}
    for p in space.params:
        if p.name not in point and space.active(p, {**point, **out}):
            out[p.name] = p.check_values(ALL_VALUES_UP_TO)[0]
    return out


def _at_point(e: NetdslError, space: Space, point: Point, causes: set[str]) -> NetdslError:
    """The error with a note at each option that makes it (where it came from); all the
    point's options when no single one is to blame (several together are)."""
    notes = []
    shown = {p.name for p in space.params if p.name in causes} or set(point)
    for p in space.params:
        if p.name not in shown or p.name not in point or not space.active(p, point):
            continue
        span = p.option_span(int(point[p.name])) if p.options else p.span
        if span is not None and span != e.span:
            notes.append(Note(span, f"with {p.name} = {p.value_text(point[p.name])}"))
    e.notes = e.notes + tuple(notes)
    e.message = f"{e.message} (with {space.describe_point({k: point[k] for k in shown})})"
    return e
