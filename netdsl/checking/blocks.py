"""The blocks pass: the program's block definitions (named once, not a layer's name, each
parameter named once), and a block seen as a component so a use binds its arguments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from ..errors import NetdslNameError
from ..lang import ir
from ..vocab import types as T
from ..vocab.components import Component, Param
from ..vocab.registry import Registry
from .collector import Collector
from .context import note

__all__ = ["Blocks", "read_blocks", "block_component"]


@dataclass(frozen=True)
class Blocks:
    """The usable definitions by name, and the names whose definition is in error (their uses
    are not checked: the definition is already reported)."""

    defs: Mapping[str, ir.BlockDef]
    broken: frozenset[str] = frozenset()


def read_blocks(program: ir.Program, registry: Registry, collector: Collector) -> Blocks:
    defs: dict[str, ir.BlockDef] = {}
    broken: set[str] = set()
    for b in program.blocks:
        if b.name in defs:
            collector.error(
                NetdslNameError(
                    f"block `{b.name}` is defined twice",
                    b.name_span,
                    label="second definition",
                    code="NDL011",
                    notes=note(defs[b.name].name_span, "first defined here"),
                )
            )
            continue
        if registry.get("layer", b.name) is not None:
            collector.error(
                NetdslNameError(
                    f"block `{b.name}` has the name of a layer",
                    b.name_span,
                    label="already a layer",
                    code="NDL011",
                    help="give the block another name",
                )
            )
            continue
        dup = [p for i, p in enumerate(b.params) if p in b.params[:i]]
        if dup:
            collector.error(
                NetdslNameError(
                    f"block `{b.name}` names parameter `{dup[0]}` twice",
                    b.name_span,
                    label=f"`{dup[0]}` twice",
                    code="NDL011",
                    help="give each parameter its own name",
                )
            )
            broken.add(b.name)
            continue
        defs[b.name] = b
    return Blocks(defs, frozenset(broken))  # a dict: the walk asks it at every layer


class _RawValue(T.ParamType):
    """A block parameter: any value, kept as written (it is substituted into the body)."""

    label = "a value"
    forms = (ir.Int, ir.Float, ir.Bool, ir.Str, ir.Shape, ir.Tuple, ir.List, ir.Name, ir.Call)

    def claims(self, name: str, binder: T.Binder) -> bool:
        return True

    def convert(self, value: ir.Value, binder: T.Binder) -> Any:
        return value


class _Block(Component):
    """A block's parameters, as the binder sees them (messages say "block `name`")."""

    kind: ClassVar[str] = "block"


def block_component(block: ir.BlockDef) -> Component:
    """A block seen as a component whose parameters are its names (bound by position), so
    binding a use gives the binder's own errors: unknown, given twice, missing, one too many."""
    return _Block(
        name=block.name, params=tuple(Param(p, _RawValue(), positional=True) for p in block.params)
    )
