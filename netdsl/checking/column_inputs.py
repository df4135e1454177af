"""A typed table's columns as a graph's named inputs (``d = description -> ...``).

A column whose name starts a chain or a merge branch is an input of its own: its encoded
tensor (a number normalized, a category one-hot or embedded as its default encoder says), or
for text the token ids (``(length,)`` integers below the column's vocabulary), so the program
picks its own embedding and sequence layers (``description -> embedding 20000 64 -> lstm 32``).
The columns the program does not name stay encoded and concatenated as the input ``x``. A
column named ``x`` is never routed on its own (``x`` is the rest).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..lang import ir
from ..vocab.columns import Column
from ..vocab.components import DEFAULT_INPUT, DataInfo, InputInfo

__all__ = ["column_input", "column_inputs", "routed_columns"]


def _starts(chain: ir.Chain) -> Iterator[str]:
    """The bare names that start ``chain`` or any merge branch inside it."""
    for i, step in enumerate(chain.steps):
        if isinstance(step, ir.Branches):
            for branch in step.chains:
                yield from _starts(branch)
        elif i == 0 and isinstance(step, ir.Layer) and not step.args and not step.body:
            yield step.name


def routed_columns(program: ir.Program, columns: tuple[Column, ...]) -> tuple[Column, ...]:
    """The columns the program starts a chain or branch with, in the table's order (a name
    the program binds itself is its tensor, not the column)."""
    chains = [b.chain for b in program.bindings]
    chains += [program.network] if program.network is not None else []
    bound = {b.name for b in program.bindings}
    named = {n for c in chains for n in _starts(c)} - bound - {DEFAULT_INPUT}
    return tuple(c for c in columns if c.name in named)


def column_input(column: Column) -> InputInfo:
    """One routed column as an input: text as its token ids, any other type encoded."""
    if column.encoder == "text":
        return InputInfo(column.name, (column.length,), "int64", column.type, column.tokens)
    return InputInfo(column.name, (column.width,), "float32", column.type)


def column_inputs(program: ir.Program, info: DataInfo) -> tuple[InputInfo, ...] | None:
    """The inputs of a program over a typed table that routes columns: ``x`` (the columns it
    does not name, encoded and concatenated; left out when none is left), then each routed
    column. None when it routes none (the table is the sole input ``x``, as for a chain)."""
    routed = routed_columns(program, info.columns)
    if not routed:
        return None
    rest = [c for c in info.columns if c not in routed]
    width = sum(c.width for c in rest)
    head = (InputInfo(DEFAULT_INPUT, (width,), "float32", "columns"),) if rest else ()
    return head + tuple(column_input(c) for c in routed)
