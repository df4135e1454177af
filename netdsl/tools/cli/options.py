"""Command-line options made from the tables they stand for, so that a new row there is a new
choice or flag here with nothing else to edit.

``netdsl run``'s setting overrides come from the settings table (:data:`SETTINGS`, the rows
marked ``flag``): a boolean setting becomes an on/off flag pair (``--normalize/--no-normalize``),
a number a ``--NAME N`` option whose value the row's own type then validates. Imported only by
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

#: the value click reads for a setting of each type (the row's type then checks it)
CLICK_TYPES: tuple[tuple[type[T.ParamType], type], ...] = ((T.Int, int), (T.Float, float))


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
        return click.option(f"{row.option}/--no-{row.option[2:]}", row.name, default=None,
                            help=help_)
    kind = next((k for t, k in CLICK_TYPES if isinstance(row.type, t)), str)
    return click.option(row.option, row.name, type=kind, default=None, help=help_)
