"""The settings pass: the program's ``key: value`` lines read by the settings table
(:mod:`netdsl.vocab.settings`), then the overrides given apart from the program
(``netdsl run --epochs 2``), then every setting left unset at its row's default."""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import NetdslArgumentError, NetdslError, NetdslSettingError
from ..lang import ir
from ..vocab import types as T
from ..vocab.registry import suggest
from ..vocab.settings import SETTINGS, TABLE, convert_override
from .bind import Binder
from .collector import Collector
from .context import note

__all__ = ["read_settings"]


def read_settings(
    program: ir.Program, overrides: Mapping[str, Any], binder: Binder, collector: Collector
) -> dict[str, Any]:
    """Every setting's value (a setting whose line is in error is left out); every mistake is
    reported to ``collector``: unknown keys, bad values, a key given twice."""
    values: dict[str, Any] = {}
    seen = _program_lines(program, binder, collector, values)
    given = set(seen)
    for key, value in overrides.items():
        problem, converted = convert_override(key, value)
        if problem is not None:
            collector.error(problem)
            continue
        given.add(key)
        values[key] = converted
    _repeated(program, seen, collector)
    _defaults(given, binder, collector, values)
    return values


def _program_lines(
    program: ir.Program, binder: Binder, collector: Collector, values: dict[str, Any]
) -> dict[str, ir.Setting]:
    """Read each key's first line into ``values``; returns those lines by key."""
    seen: dict[str, ir.Setting] = {}
    for s in program.settings:
        row = TABLE.get(s.key)
        if row is None:
            close = suggest(s.key, TABLE)
            collector.error(
                NetdslSettingError(
                    f"unknown setting `{s.key}`",
                    s.key_span,
                    label="not a setting",
                    code="NDL004",
                    expected=", ".join(f"`{k}`" for k in TABLE),
                    help=f"did you mean `{close}`?" if close else None,
                )
            )
            continue
        if s.key in seen:
            continue
        seen[s.key] = s
        try:
            values[s.key] = row.type.convert(s.value, binder)
        except T.Problem as p:
            node = p.node if p.node is not None and getattr(p.node, "span", None) else s.value
            collector.error(
                NetdslArgumentError(
                    f"bad `{s.key}`: {p.message}",
                    getattr(node, "span", None),
                    label=f"expected {p.expected}",
                    code="NDL005",
                    help=p.help,
                )
            )
        except NetdslError as e:
            collector.error(e)
    return seen


def _repeated(program: ir.Program, seen: Mapping[str, ir.Setting], collector: Collector) -> None:
    """One error per setting given more than once, at its second line."""
    again: dict[str, list[ir.Setting]] = {}
    for s in program.settings:
        first = seen.get(s.key)
        if first is not None and s is not first:
            again.setdefault(s.key, []).append(s)
    for key, extra in again.items():
        times = len(extra) + 1
        collector.error(
            NetdslSettingError(
                f"`{key}` is set twice" if times == 2 else f"`{key}` is set {times:,} times",
                extra[0].key_span,
                label="second setting",
                code="NDL004",
                help=f"keep one `{key}:` line",
                notes=note(seen[key].key_span, "first set here"),
            )
        )


def _defaults(
    given: set[str], binder: Binder, collector: Collector, values: dict[str, Any]
) -> None:
    """Each setting not given takes its row's default (a component's name is bound here)."""
    for row in SETTINGS:
        if row.name in given:
            continue
        default = row.default
        if not (isinstance(row.type, (T.Ref, T.ListOf)) and default is not None):
            values[row.name] = default
            continue
        names = default if isinstance(default, tuple) else (default,)
        kind = row.type.kind if isinstance(row.type, T.Ref) else row.type.item.kind  # type: ignore[attr-defined]
        try:
            refs = [binder.bind_ref(kind, ir.Name(n)) for n in names]
        except NetdslError as e:
            collector.error(
                NetdslSettingError(
                    f"the default {row.name} is not available: {e.message}",
                    help="set it explicitly or install its plugin",
                )
            )
            continue
        values[row.name] = refs if isinstance(default, tuple) else refs[0]
