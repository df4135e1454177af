"""The blocks pass: the program's block definitions (named once, not a layer's name, each
parameter named once), and a block seen as a component so a use binds its arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import NetdslNameError
from ..lang import ir
from ..vocab import types as T
from ..vocab.components import Block, Component, Param
from ..vocab.registry import Registry
from .collector import Collector
from .context import note
from .libraries import read_libraries

__all__ = ["Blocks", "block_component", "read_blocks"]


@dataclass(frozen=True)
class Blocks:
    """The usable definitions by name, and the names whose definition is in error (their uses
    are not checked: the definition is already reported)."""

    defs: Mapping[str, ir.BlockDef]
    broken: frozenset[str] = frozenset()
    #: the text of each library and plugin block by the file name its spans carry
    sources: Mapping[str, str] = field(default_factory=dict)
    #: the blocks shipped by plugins (checked by their plugin's tests, not when unused)
    shipped: frozenset[str] = frozenset()


def read_blocks(program: ir.Program, registry: Registry, collector: Collector) -> Blocks:
    """The program's blocks, those of its libraries and those plugins ship, one namespace:
    a name defined twice anywhere is an error naming both places."""
    libraries = read_libraries(program, collector)
    defs, sources, shipped = _plugin_blocks(registry)
    sources.update(libraries.sources)
    broken: set[str] = set()
    for name, item in libraries.blocks.items():
        if _clashes(item.block, registry, collector, defs, f" (in {item.file})"):
            continue
        if _params_twice(item.block, collector):
            broken.add(name)
            continue
        defs[name] = item.block
    imported = set(libraries.blocks)
    for b in program.blocks:
        if b.name in imported and b.name in defs:
            item = libraries.blocks[b.name]
            collector.error(
                NetdslNameError(
                    f"block `{b.name}` is already imported from {item.file}",
                    b.name_span,
                    label="shadows an imported block",
                    code="NDL011",
                    notes=note(item.block.name_span, f"defined in {item.file}"),
                    help="rename this block, or drop the `use` line that imports the other",
                )
            )
            imported.discard(b.name)  # a second local definition is "defined twice"
            broken.add(b.name)
            continue
        if b.name in shipped and b.name in defs:
            _clashes(b, registry, collector, defs, "")
            continue
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
        if _params_twice(b, collector):
            broken.add(b.name)
            continue
        defs[b.name] = b
    # a dict: the walk asks it at every layer
    return Blocks(defs, frozenset(broken), sources, frozenset(shipped))


def _params_twice(b: ir.BlockDef, collector: Collector) -> bool:
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
    return bool(dup)


def _plugin_blocks(registry: Registry) -> tuple[dict[str, ir.BlockDef], dict[str, str], set[str]]:
    """The blocks plugins ship, parsed (once per registry entry), with their sources."""
    defs: dict[str, ir.BlockDef] = {}
    sources: dict[str, str] = {}
    for entry in registry.entries("block"):
        component = entry.component
        if isinstance(component, Block) and component.definition() is not None:
            defs[component.name] = component.definition()
            sources[component.file] = component.source
    return defs, sources, set(defs)


def _clashes(
    block: ir.BlockDef,
    registry: Registry,
    collector: Collector,
    defs: Mapping[str, ir.BlockDef],
    where: str,
) -> bool:
    """A library or program block named like a layer or a plugin's block: an error."""
    shipped = registry.entry("block", block.name)
    layer = registry.entry("layer", block.name)
    if shipped is None and layer is None:
        return False
    what = "layer" if layer is not None else "block"
    provider = (layer or shipped).provider  # type: ignore[union-attr]
    collector.error(
        NetdslNameError(
            f"block `{block.name}`{where} has the name of a {what} of {provider}",
            block.name_span,
            label=f"already a {what}",
            code="NDL011",
            help="give the block another name",
        )
    )
    return True


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
