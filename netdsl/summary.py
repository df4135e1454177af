"""``netdsl summary``: the checked model as a table of layers, output shapes and parameters."""

from __future__ import annotations

from typing import Any

from .checker import CheckedModel, format_shape
from .components import Ref

__all__ = ["summary_text"]


def _ref_with_changes(model: CheckedModel, ref: Ref) -> str:
    component = model.registry.get(ref.kind, ref.name)
    defaults = {p.name: p.default for p in component.params} if component else {}
    changed = [f"{k}={_value(v)}" for k, v in ref.args if defaults.get(k, object()) != v]
    return ref.name + (f"({', '.join(changed)})" if changed else "")


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Ref):
        return v.name
    return repr(v) if isinstance(v, str) else str(v)


def summary_text(model: CheckedModel) -> str:
    """A readable table; branches and wrapped sub-networks are indented."""
    rows = [("#", "layer", "output shape", "params")]
    rows.append(("", "input" + (f" ({model.dataset.name})" if model.dataset else ""),
                 format_shape(model.input_shape), ""))
    for n in model.nodes:
        label = "  " * n.depth + n.text
        if len(n.inputs) > 1 or (n.inputs and n.inputs[0] != n.index - 1):
            label += "  <- " + ", ".join("input" if i < 0 else f"#{i}" for i in n.inputs)
        elif not n.inputs and n.index > 0:
            label += "  <- input"  # a branch that starts at the model input
        rows.append((str(n.index), label, format_shape(n.output_shape), f"{n.params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[1] = min(widths[1], 60)

    def line(r: tuple[str, str, str, str]) -> str:
        return f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}".rstrip()

    out = [line(rows[0]), "-" * len(line(rows[0]))]
    out += [line(r) for r in rows[1:]]
    total = f"{model.total_params:,}"
    out.append("-" * len(out[0]))
    out.append(f"{'total parameters':<{len(out[0]) - len(total) - 1}} {total}")
    metrics = ", ".join(_ref_with_changes(model, m) for m in model.metrics) or "none"
    out.append("")
    out.append(f"loss {_ref_with_changes(model, model.loss)} · optimizer "
               f"{_ref_with_changes(model, model.optimizer)} · metrics {metrics}")
    out.append(f"{model.epochs} epochs · batch size {model.batch_size}"
               + (f" · validation split {model.validation_split:g}" if model.validation_split else "")
               + (f" · seed {model.seed}" if model.seed is not None else ""))
    return "\n".join(out)
