"""Command-line options made from the tables they stand for, so that a new row there is a new
choice or flag here with nothing else to edit.

``netdsl run``'s and ``netdsl check``'s setting overrides come from the settings table
(:data:`SETTINGS`, the rows marked ``flag``): a boolean setting becomes an on/off flag pair
(``--normalize/--no-normalize``), a number a ``--NAME N`` option in the row's range, a choice
one of the row's words; ``check`` then validates the value by the row's own type. Imported only by
the verbs that use it, never by ``netdsl --help``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from netdsl.vocab import types as T
from netdsl.vocab.settings import SETTINGS, Setting

__all__ = ["setting_option", "setting_options"]

F = TypeVar("F", bound=Callable[..., Any])


def _click_type(kind: T.ParamType) -> Any:
    """What click reads for a setting of type ``kind``: its range or its choices from the table,
    so click names the option in its error (``check`` validates the value again by the row)."""
    if isinstance(kind, T.Int):
        return click.IntRange(min=kind.min, max=kind.max)
    if isinstance(kind, T.Float):
        return click.FloatRange(
            min=kind.min, max=kind.max, min_open=kind.min_open, max_open=kind.max_open
        )
    if isinstance(kind, T.Choice):
        return click.Choice(list(kind.choices))
    return str


def setting_options(command: F) -> F:
    """Add one override option per setting the table marks as a flag, in the table's order."""
    for row in reversed([r for r in SETTINGS if r.flag]):
        command = setting_option(row)(command)
    return command


def setting_option(row: Setting) -> Callable[[F], F]:
    """The click option for one settings row. Its value is None when not given, so only the
    settings the user named override the program's."""
    help_ = f"Override the program's `{row.name}:` ({row.help})."
    if isinstance(row.type, T.Bool):
        return click.option(
            f"{row.option}/--no-{row.option[2:]}", row.name, default=None, help=help_
        )
    return click.option(row.option, row.name, type=_click_type(row.type), default=None, help=help_)
