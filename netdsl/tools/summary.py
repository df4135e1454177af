"""``netdsl summary``: the checked model as a table of layers, output shapes and parameters."""

from __future__ import annotations

from typing import Any

from ..checking.graph import format_shape
from ..checking.plan import CheckedModel
from ..lang.formatter import format_value
from ..vocab.settings import value_to_ir
from .flops import MacsReport

__all__ = ["summary_text"]


def _setting(value: Any) -> str:
    """A setting's value as a program would write it (references without their defaults)."""
    if isinstance(value, list):
        return ", ".join(format_value(value_to_ir(v)) for v in value) or "none"
    return format_value(value_to_ir(value))


def _graph_notes(n: Any, names: dict[int, str], outputs: dict[int, str]) -> str:
    """A graph node's inputs (by name or ``#index``), the layer it shares, the output it is."""
    text = ""
    if len(n.inputs) > 1 or (n.inputs and (n.inputs[0] < 0 or n.inputs[0] != n.index - 1)):
        text += "  <- " + ", ".join(names.get(i, "input") if i < 0 else f"#{i}" for i in n.inputs)
    if n.shares is not None:
        text += f"  (shares #{n.shares})"
    if n.index in outputs:
        text += f"  -> output {outputs[n.index]}"
    return text


def summary_text(model: CheckedModel, macs: MacsReport | None = None) -> str:
    """A readable table; branches and wrapped sub-networks are indented. With ``macs``
    (``--flops``), a column of multiply-accumulates per example and their total."""
    rows: list[tuple[str, ...]] = [("#", "layer", "output shape", "params")]
    if model.is_graph:  # each named input, and who reads it
        rows += [
            ("", f"input {i.name} ({model.dataset.name})", format_shape(i.shape), "")
            for i in model.inputs
        ]
    else:
        rows.append(("", f"input ({model.dataset.name})", format_shape(model.input_shape), ""))
    if (
        model.normalize_params
    ):  # `normalize: true`: adapted on the training data, saved in the model
        rows.append(
            (
                "",
                "normalize (implicit)",
                format_shape(model.input_shape),
                f"{model.normalize_params:,}",
            )
        )
    names = {i.node: i.name for i in model.inputs}
    outputs = {o.node: o.name for o in model.outputs}
    for n in model.nodes:
        label = "  " * n.depth + n.text
        if model.is_graph:
            label += _graph_notes(n, names, outputs)
        elif len(n.inputs) > 1 or (n.inputs and n.inputs[0] != n.index - 1):
            label += "  <- " + ", ".join("input" if i < 0 else f"#{i}" for i in n.inputs)
        elif not n.inputs and n.index > 0:
            label += "  <- input"  # a branch that starts at the model input
        rows.append((str(n.index), label, format_shape(n.output_shape), f"{n.params:,}"))
    totals: tuple[str, ...] = ()
    if macs is not None:
        head = 1 + (len(model.inputs) if model.is_graph else 1) + bool(model.normalize_params)
        rows = [
            (*rows[0], "MACs"),
            *[(*r, "") for r in rows[1:head]],
            *[(*r, "?" if m is None else f"{m:,}") for r, m in zip(rows[head:], macs.per_layer)],
        ]
        totals = ("", "total (MACs per example)", "", f"{model.total_params:,}", f"{macs.total:,}")
    columns = len(rows[0])
    widths = [
        max(len(r[i]) for r in (*rows, *([totals] if totals else []))) for i in range(columns)
    ]
    widths[1] = min(widths[1], 60)

    def line(r: tuple[str, ...]) -> str:
        cells = [
            f"{r[0]:>{widths[0]}}",
            f"{r[1]:<{widths[1]}}",
            f"{r[2]:<{widths[2]}}",
            *(f"{c:>{w}}" for c, w in zip(r[3:], widths[3:])),
        ]
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), "-" * len(line(rows[0]))]
    out += [line(r) for r in rows[1:]]
    total = f"{model.total_params:,}"
    out.append("-" * len(out[0]))
    if macs is None:
        out.append(f"{'total parameters':<{len(out[0]) - len(total) - 1}} {total}")
    else:
        out.append(line(totals))
        if macs.unknown:
            out.append(
                f"  leaves out {len(macs.unknown)} layer(s) whose declaration gives no MACs "
                f"rule: " + ", ".join(f"#{i}" for i in macs.unknown)
            )
        out.append("  (about twice as many FLOPs; activations not counted)")
    s = model.settings
    out.append("")
    out.append(
        f"loss {_setting(s.loss)} · optimizer {_setting(s.optimizer)} · "
        f"metrics {_setting(s.metrics)}"
    )
    out.append(
        f"{s.epochs} epoch{'s' * (s.epochs != 1)} · batch size {s.batch_size}"
        + (f" · validation split {s.validation_split:g}" if s.validation_split else "")
        + (f" · seed {s.seed}" if s.seed is not None else "")
    )
    return "\n".join(out)
