"""The training target of each output of a graph: its loss, metrics and loss weight (given per
output, given once for all, or the default for its target's kind, as for a chain program),
checked against its target by the same rules (:func:`.target.training_target`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from ..lang import ir
from ..vocab.components import DataInfo
from ..vocab.registry import Registry
from ..vocab.types import ByOutput
from .collector import Collector
from .graph import GraphInput, GraphOutput, Node
from .graph_pass import GraphScope, NamedOut, output_path
from .target import training_target

__all__ = ["graph_plan_parts"]


def _for(value: Any, name: str) -> Any:
    """A setting's value for one output: its entry in a mapping, else the value itself."""
    if isinstance(value, dict):
        return value.get(name)
    return value


def graph_plan_parts(
    values: dict[str, Any],
    info: DataInfo,
    nodes: Sequence[Node],
    named: Sequence[NamedOut],
    scope: GraphScope,
    registry: Registry,
    collector: Collector,
    program: ir.Program,
) -> tuple[tuple[GraphInput, ...], tuple[GraphOutput, ...], str] | None:
    """The plan's inputs and outputs (and the first output's label encoding); ``values``'
    ``loss``, ``metrics`` and ``loss_weights`` become the effective mappings per output."""
    targets = {t.name: t for t in info.named_targets}
    inputs = tuple(
        GraphInput(i.name, -1 - k, tuple(i.shape), i.dtype, i.kind, i.vocabulary)
        for k, i in enumerate(scope.order)
    )
    outputs: list[GraphOutput] = []
    binder = collector.binder(registry)
    for o in named:
        assert o.name is not None
        t = targets[o.name]
        index = o.out[0][0]
        one = {
            **values,
            "loss": _for(values.get("loss"), o.name),
            "metrics": _for(values.get("metrics"), o.name),
        }
        data = dataclasses.replace(info, target=t.target, class_names=t.class_names)
        path = output_path(nodes, index)
        target = training_target(one, data, path, o.out[1], registry, binder, program)
        collector.extend(target.errors)
        weight = _for(values.get("loss_weights"), o.name)
        outputs.append(
            GraphOutput(
                o.name,
                index,
                tuple(o.out[1]),
                t.target,
                target.loss,
                tuple(target.metrics),
                1.0 if weight is None else float(weight),
                target.labels,
                t.class_names,
            )
        )
    if collector.errors:
        return None
    _effective(values, outputs)
    return inputs, tuple(outputs), outputs[0].labels


def _effective(values: dict[str, Any], outputs: Sequence[GraphOutput]) -> None:
    """The settings as they run, per output (what ``model.net`` writes back)."""
    values["loss"] = ByOutput({o.name: o.loss for o in outputs})
    values["metrics"] = ByOutput({o.name: list(o.metrics) for o in outputs})
    given: Mapping[str, Any] | None = values.get("loss_weights")
    if given is not None:
        values["loss_weights"] = ByOutput({o.name: o.loss_weight for o in outputs})
