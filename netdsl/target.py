"""The training target: which loss and metrics a program trains with, and whether the network's
output fits what its dataset's labels are.

The dataset says what its target is (:class:`~netdsl.components.Target`); losses and metrics
declare the targets they are the default for and the label encoding they want. Nothing here
names a component.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from . import ir
from .bind import Binder
from .components import DataInfo, Loss, Metric, Ref
from .errors import NetdslError, NetdslSettingError, NetdslShapeError
from .graph import Node, Shape, format_shape
from .registry import Registry

__all__ = ["TrainingTarget", "training_target"]


@dataclass
class TrainingTarget:
    """The loss and metrics to train with, how labels are encoded for them, and any errors."""

    loss: Ref | None = None
    metrics: list[Ref] = field(default_factory=list)
    labels: str = "any"
    errors: list[NetdslError] = field(default_factory=list)


def training_target(values: Mapping[str, Any], info: DataInfo, nodes: Sequence[Node], output: Shape | None,
                    registry: Registry, binder: Binder, program: ir.Program) -> TrainingTarget:
    """Resolve the default loss and metrics for ``info.target`` and check the network's output."""
    out = TrainingTarget()
    kind = info.target.kind
    loss = values.get("loss") or _default(registry, "loss", kind, binder, out)
    if loss is not None and values.get("loss") is None:
        loss = _with_logits(loss, nodes)
    metrics = values.get("metrics")
    if metrics is None:
        metrics = [m for m in (_default(registry, "metric", kind, binder, out, required=False),) if m]
    out.loss, out.metrics = loss, list(metrics)
    wanted = loss.component.labels if loss is not None and isinstance(loss.component, Loss) else "any"
    out.labels = ("sparse" if wanted == "sparse" else "categorical") if kind == "classes" else "any"
    if kind == "classes":
        _check_metric_labels(out, program)
    if output is not None and nodes:
        _check_output(out, info, nodes[-1], output, values["dataset"].name)
        if not out.errors:
            _check_activation(out, info, nodes, values["dataset"].name, values.get("loss") is None)
    return out


def _default(registry: Registry, kind: str, target: str, binder: Binder, out: TrainingTarget,
             required: bool = True) -> Ref | None:
    for entry in registry.entries(kind):
        component = entry.component
        if isinstance(component, (Loss, Metric)) and target in component.default_for:
            return binder.bind_ref(kind, ir.Name(component.name))
    if required:
        out.errors.append(NetdslSettingError(
            f"no {kind} is declared as the default for a `{target}` target",
            help=f"set `{kind}:` in the program, or install a plugin that provides one"))
    return None


def _with_logits(loss: Ref, nodes: Sequence[Node]) -> Ref:
    """A network that ends without an activation outputs logits: a default loss that can read
    them (``from_logits``) is told so."""
    args = dict(loss.args)
    if "from_logits" in args and _final_activation(nodes) in (None, "linear"):
        args["from_logits"] = True
        return Ref(loss.kind, loss.name, tuple(args.items()), loss.component)
    return loss


def _final_activation(nodes: Sequence[Node]) -> str | None:
    for node in reversed(nodes):
        act = node.kwargs.get("activation")
        if isinstance(act, Ref):
            return act.name
        if not (node.component is not None and node.component.transparent):
            return None
    return None


def _check_metric_labels(out: TrainingTarget, program: ir.Program) -> None:
    """A metric that reads integer class ids cannot follow a one-hot loss, and the other way."""
    setting = program.setting("metrics")
    for metric in out.metrics:
        wants = metric.component.labels if isinstance(metric.component, Metric) else "any"
        if wants in ("any", out.labels):
            continue
        loss = out.loss.name if out.loss else "the loss"
        out.errors.append(NetdslSettingError(
            f"metric `{metric.name}` reads {_LABEL_WORDS[wants]}, but `{loss}` trains on "
            f"{_LABEL_WORDS[out.labels]}", setting.value.span if setting else None,
            label=f"wants {_LABEL_WORDS[wants]}", code="NDL005",
            help="use a metric for the same labels (e.g. `accuracy`, which reads either)"))


_LABEL_WORDS = {"sparse": "integer class ids", "categorical": "one-hot labels", "any": "any labels"}


def _check_output(out: TrainingTarget, info: DataInfo, last: Node, shape: Shape, dataset: str) -> None:
    target = info.target
    want = target.output_shape
    if tuple(shape) == tuple(want):
        return
    if target.kind == "classes":
        what, fix = f"one score per class of `{dataset}`", f"dense {target.num_classes} softmax"
    elif target.kind == "binary":
        what, fix = "one probability (a binary target)", "dense 1 sigmoid"
    else:
        what, fix = f"the regression target's shape {format_shape(want)}", f"dense {want[-1]}"
    out.errors.append(NetdslShapeError(
        f"the network must end with {what}: {format_shape(want)}, but `{last.layer}` gives "
        f"{format_shape(shape)}", last.span, label=f"output {format_shape(shape)}", code="NDL013",
        help=f"end with `{fix}`"))


#: (target kind, final activation) -> (why it cannot work, the fix); None stands for "any other
#: activation than the allowed ones" of that target. Checked only when the loss is the default
#: one (a loss the program names is trusted), except rows marked always.
_ALLOWED = {"classes": ("softmax", "linear", None), "binary": ("sigmoid", "linear", None)}
_ACTIVATION_RULES: Mapping[tuple[str, str | None], tuple[str, str, bool]] = {
    ("regression", "softmax"): (
        "softmax makes the outputs sum to 1 (a single unit always outputs 1.0), so it cannot "
        "follow real-valued targets", "end with a linear output: `dense {units}`", True),
    ("classes", "sigmoid"): (
        "sigmoid scores each class on its own, but the default loss `{loss}` reads one "
        "probability distribution over the classes", "end with `dense {units} softmax`", False),
    ("classes", None): (
        "`{act}` does not give class probabilities; the default loss `{loss}` needs softmax "
        "(or no activation, read as logits)", "end with `dense {units} softmax`", False),
    ("binary", "softmax"): (
        "softmax over one unit always outputs 1.0, so the network could never say 0",
        "end with `dense 1 sigmoid`", False),
    ("binary", None): (
        "`{act}` does not give a probability in [0, 1]; the default loss `{loss}` needs sigmoid "
        "(or no activation, read as logits)", "end with `dense 1 sigmoid`", False),
}


def _check_activation(out: TrainingTarget, info: DataInfo, nodes: Sequence[Node], dataset: str,
                      default_loss: bool) -> None:
    """The network's final activation against the target: softmax on a regression output,
    sigmoid on a multi-class one, and the like are errors with the fix."""
    kind, act = info.target.kind, _final_activation(nodes)
    if act is None:
        return
    rule = _ACTIVATION_RULES.get((kind, act))
    if rule is None and act not in _ALLOWED.get(kind, (act,)):
        rule = _ACTIVATION_RULES.get((kind, None))
    if rule is None or not (default_loss or rule[2]):
        return
    why, fix, _always = rule
    last = nodes[-1]
    units = info.target.output_shape[-1]
    loss = out.loss.name if out.loss else "loss"
    what = {"classes": f"{info.target.num_classes} classes", "binary": "a binary target",
            "regression": "a regression target"}[kind]
    out.errors.append(NetdslShapeError(
        f"the network ends with `{act}`, but `{dataset}` has {what}: "
        + why.format(act=act, loss=loss, units=units),
        last.span, label=f"`{act}` output for {what}", code="NDL013",
        help=fix.format(units=units)))
