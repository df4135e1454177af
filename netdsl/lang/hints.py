"""Hints for mistakes that parse: the binder (in the checker) asks these when an argument
does not bind, so that its error says what was probably meant.

Pure functions over the IR; nothing here knows the registry (the caller passes a predicate).
"""

from __future__ import annotations

from collections.abc import Callable

from . import ir

__all__ = ["missing_arrow", "quoted_name_help"]


def missing_arrow(layer: ir.Layer, known_layer: Callable[[str], bool]) -> ir.Arg | None:
    """The first positional bare-name argument of ``layer`` that names a layer, if any.

    ``dense 64 relu -> dropout 0.2 dense 10 softmax`` parses as one ``dropout`` step with the
    arguments ``0.2 dense 10 softmax``: the ``dense`` among them is where a ``->`` is missing.
    Keyword arguments (``merge=add``) and names inside calls or lists never count.
    """
    for arg in layer.args:
        if arg.key is None and isinstance(arg.value, ir.Name) and known_layer(arg.value.value):
            return arg
    return None


def quoted_name_help(value: ir.Str) -> str:
    """Help for a string where a name was meant (``dense 64 "relu"``)."""
    return f"drop the quotes: `{value.value}`"
