"""A search space for the commands that show one network (``summary``, ``diagram``): its
parameters as a table, and the first point of it that passes the check, drawn or summed up
in the space's stead (labelled as such)."""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from ..checking.plan import CheckedModel
from ..errors import NetdslErrors, NetdslSpaceError
from ..lang.space import Point, Space
from ..vocab.registry import Registry
from .check import check_point, points

__all__ = ["first_point", "parameter_lines"]


def parameter_lines(space: Space) -> list[str]:
    """``name  space  [only when ...]``, one line per parameter, under the space's size."""
    size, continuous = space.size()
    head = f"search space: {size:,} point{'s' if size != 1 else ''}"
    head += " (and real ranges)" if continuous else ""
    rows = []
    for p in space.params:
        when = ""
        if p.parent is not None:
            parent = space.param(p.parent[0])
            when = f"when {parent.name} = {parent.option_text(p.parent[1])}"
        rows.append((p.name, p.describe(), when))
    width = max((len(r[0]) for r in rows), default=0)
    return [head] + [f"  {n.ljust(width)}  {d}  {w}".rstrip() for n, d, w in rows]


def first_point(
    space: Space, registry: Registry, data: str | os.PathLike[str] | None = None
) -> tuple[Point, CheckedModel]:
    """The first checked point that passes, and its plan (whose program's name says which
    point of how many it is, for a diagram's caption); NDL017 with the errors when none does."""
    chosen, _ = points(space)
    errors: list[Any] = []
    for point in chosen:
        result = check_point(space, point, registry, data=data)
        if result.model is not None:
            size, _ = space.size()
            name = os.path.basename(space.program.filename or "model")
            label = f"{name}: first passing point of {size:,} ({space.describe_point(point)})"
            program = replace(result.model.program, filename=label.replace("/", "∕"))
            return point, replace(result.model, program=program)
        errors.extend(result.errors)
    err = NetdslSpaceError(
        "no point of the search space passes the check",
        space.params[0].span if space.params else None,
        code="NDL017",
        help="`netdsl check` shows why each point fails",
    )
    err.source = space.program.source
    raise NetdslErrors([err, *errors[:5]])
