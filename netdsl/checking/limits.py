"""How many layers a network expands to (blocks, repetition, branches), worked out by
arithmetic over the text before anything is expanded, and the error at the step that passes
MAX_LAYERS (going into the repetition, block or branch that alone is too big)."""

from __future__ import annotations

from typing import Mapping

from ..errors import NetdslLimitError, Note, Span
from ..lang import ir
from .collector import Collector
from .context import MAX_LAYERS, note

__all__ = ["Expansion", "TOO_MANY_LAYERS", "too_many_layers"]

#: the mistake "more than MAX_LAYERS layers", reported once per check (see Collector.first)
TOO_MANY_LAYERS = "too many layers"


def too_many_layers(
    span: Span | None, label: str, notes: tuple[Note, ...] = ()
) -> NetdslLimitError:
    return NetdslLimitError(
        f"the network expands to more than {MAX_LAYERS:,} layers",
        span,
        label=label,
        code="NDL012",
        help="repeat fewer times, or use blocks less deeply",
        notes=list(notes),
    )


class Expansion:
    """Layer counts of chains and blocks, capped just past MAX_LAYERS, memoised per block."""

    __slots__ = ("blocks", "_sizes")

    def __init__(self, blocks: Mapping[str, ir.BlockDef]) -> None:
        self.blocks = blocks
        self._sizes: dict[str, int] = {}  # block name -> expanded layer count (capped)

    def chain(self, chain: ir.Chain) -> int:
        """How many layers ``chain`` expands to (blocks, repetition, branches, wrapped bodies)."""
        total = 0
        for step in chain.steps:
            total += self.step(step)
            if total > MAX_LAYERS:
                return MAX_LAYERS + 1
        return total

    def step(self, step: ir.Step) -> int:
        if isinstance(step, ir.Repeat):
            return min(max(step.times, 1) * self.chain(step.chain), MAX_LAYERS + 1)
        if isinstance(step, ir.Branches):
            return min(1 + sum(self.chain(c) for c in step.chains), MAX_LAYERS + 1)
        if step.name in self.blocks:
            return self.block(step.name)
        return min(1 + sum(self.chain(c) for c in step.body), MAX_LAYERS + 1)

    def block(self, name: str) -> int:
        size = self._sizes.get(name)
        if size is None:
            self._sizes[name] = 1  # a recursive use counts once here (the walk reports it)
            size = self._sizes[name] = self.chain(self.blocks[name].body)
        return size

    def report(self, chain: ir.Chain, collector: Collector, notes: tuple[Note, ...] = ()) -> None:
        """Report the step where ``chain`` passes MAX_LAYERS, so the caret is on what to change."""
        total = 0
        for step in chain.steps:
            size = self.step(step)
            if size > MAX_LAYERS:
                if isinstance(step, ir.Repeat):
                    if self.chain(step.chain) > MAX_LAYERS:
                        return self.report(step.chain, collector, notes)
                    return self._report(
                        collector,
                        step.times_span or step.span,
                        f"{self.chain(step.chain):,} layers {step.times:,} times",
                        notes,
                    )
                if isinstance(step, ir.Branches):
                    big = next((c for c in step.chains if self.chain(c) > MAX_LAYERS), None)
                    if big is not None:
                        return self.report(big, collector, notes)
                    return self._report(
                        collector, step.merge_span or step.span, "too many layers", notes
                    )
                if step.name in self.blocks:
                    use = note(step.span, f"in this use of `{step.name}`")
                    return self.report(self.blocks[step.name].body, collector, (*use, *notes))
                big = next((c for c in step.body if self.chain(c) > MAX_LAYERS), None)
                if big is not None:
                    return self.report(big, collector, notes)
            total += size
            if total > MAX_LAYERS:
                label = (
                    f"block `{step.name}` adds {size:,} layers"
                    if isinstance(step, ir.Layer) and step.name in self.blocks
                    else "one step too many"
                )
                return self._report(collector, step.span, label, notes)
        return None

    @staticmethod
    def _report(
        collector: Collector, span: Span | None, label: str, notes: tuple[Note, ...]
    ) -> None:
        collector.first(TOO_MANY_LAYERS)
        collector.error(too_many_layers(span, label, notes))
