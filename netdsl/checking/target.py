"""The training target: which loss and metrics a program trains with, and whether the network's
output fits what its dataset's labels are.

The dataset says what its target is (:class:`~netdsl.vocab.components.Target`); losses and metrics
declare the targets they are the default for and the label encoding they want. Nothing here
names a component.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import NetdslArgumentError, NetdslError, NetdslSettingError, NetdslShapeError, Note
from ..lang import ir
from ..vocab.components import DataInfo, Loss, Metric, Optimizer, Ref, apply_rule
from ..vocab.registry import Registry
from .bind import Binder
from .graph import Node, Shape, format_shape

__all__ = ["TrainingTarget", "check_monitors", "logged_quantities", "training_target"]


@dataclass
class TrainingTarget:
    """The loss and metrics to train with, how labels are encoded for them, and any errors."""

    loss: Ref | None = None
    metrics: list[Ref] = field(default_factory=list)
    labels: str = "any"
    errors: list[NetdslError] = field(default_factory=list)


def training_target(
    values: Mapping[str, Any],
    info: DataInfo,
    nodes: Sequence[Node],
    output: Shape | None,
    registry: Registry,
    binder: Binder,
    program: ir.Program,
) -> TrainingTarget:
    """Resolve the default loss and metrics for ``info.target`` and check the network's output."""
    out = TrainingTarget()
    kind = info.target.kind
    loss = values.get("loss") or _default(registry, "loss", kind, binder, out)
    if loss is not None and values.get("loss") is None:
        loss = _with_logits(loss, nodes)
    metrics = values.get("metrics")
    if metrics is None:
        metrics = [
            m for m in (_default(registry, "metric", kind, binder, out, required=False),) if m
        ]
    out.loss, out.metrics = loss, list(metrics)
    if loss is not None and isinstance(loss.component, Loss) and kind not in loss.component.targets:
        _wrong_target(out, loss, kind, values["dataset"].name, program)
    wanted = (
        loss.component.labels if loss is not None and isinstance(loss.component, Loss) else "any"
    )
    out.labels = ("sparse" if wanted == "sparse" else "categorical") if kind == "classes" else "any"
    if kind == "classes":
        _check_metric_labels(out, program)
    else:
        _check_sparse_metrics(out, kind, values["dataset"].name, program)
    if output is not None and nodes:
        _check_output(out, info, nodes[-1], output, values["dataset"].name)
        if not out.errors:
            _check_activation(out, info, nodes, values["dataset"].name, values.get("loss") is None)
        if not out.errors:
            _check_metric_outputs(out, tuple(output), program)
    return out


def _default(
    registry: Registry,
    kind: str,
    target: str,
    binder: Binder,
    out: TrainingTarget,
    required: bool = True,
) -> Ref | None:
    for entry in registry.entries(kind):
        component = entry.component
        if isinstance(component, (Loss, Metric)) and target in component.default_for:
            return binder.bind_ref(kind, ir.Name(component.name))
    if required:
        out.errors.append(
            NetdslSettingError(
                f"no {kind} is declared as the default for a `{target}` target",
                help=f"set `{kind}:` in the program, or install a plugin that provides one",
            )
        )
    return None


def _with_logits(loss: Ref, nodes: Sequence[Node]) -> Ref:
    """A network that ends without an activation outputs logits: a default loss that can read
    them (``from_logits``) is told so."""
    args = dict(loss.args)
    if "from_logits" in args and _final_activation(nodes) in (None, "linear"):
        args["from_logits"] = True
        return Ref(loss.kind, loss.name, tuple(args.items()), loss.component, loss.provider)
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
        out.errors.append(
            NetdslArgumentError(
                f"metric `{metric.name}` reads {_LABEL_WORDS[wants]}, but `{loss}` trains on "
                f"{_LABEL_WORDS[out.labels]}",
                setting.value.span if setting else None,
                label=f"wants {_LABEL_WORDS[wants]}",
                code="NDL005",
                help="use a metric for the same labels (e.g. `accuracy`, which reads either)",
            )
        )


def _check_sparse_metrics(
    out: TrainingTarget, kind: str, dataset: str, program: ir.Program
) -> None:
    """A metric that reads integer class ids needs a target of class ids."""
    setting = program.setting("metrics")
    for metric in out.metrics:
        if isinstance(metric.component, Metric) and metric.component.labels == "sparse":
            out.errors.append(
                NetdslArgumentError(
                    f"metric `{metric.name}` reads integer class ids, but `{dataset}`'s target is "
                    f"{_TARGET_WORDS[kind]}",
                    setting.value.span if setting else None,
                    label="wants integer class ids",
                    code="NDL005",
                    help="use a metric for this target, or leave out `metrics:` for the default",
                )
            )


def _check_metric_outputs(out: TrainingTarget, output: Shape, program: ir.Program) -> None:
    """Each metric's ``output_rules`` against the network's output shape (a class id or ``top_k``
    past the output's units); a violation is an error at the argument it names."""
    setting = program.setting("metrics")
    written = (
        list(setting.value.items)
        if setting is not None and isinstance(setting.value, ir.List)
        else [setting.value]
        if setting is not None
        else []
    )
    for i, metric in enumerate(out.metrics):
        component = metric.component
        if not isinstance(component, Metric) or not component.output_rules:
            continue
        item = written[i] if i < len(written) else None
        names = {p.name for p in component.params}
        args = {p.name: p.default for p in component.params}
        args.update(metric.kwargs)
        for rule in component.output_rules:
            found, broken = apply_rule(rule, (args, output), names)
            out.errors.extend(
                _broken_rule(
                    f"an output rule of metric `{metric.name}`",
                    rule,
                    what,
                    getattr(item, "span", None),
                )
                for what in broken
            )
            for v in found:
                out.errors.append(
                    NetdslArgumentError(
                        f"bad `{v.param}` for metric `{metric.name}`: {v.message}",
                        _param_span(item, component, v.param)
                        or (setting.value.span if setting else None),
                        label=f"the output is {format_shape(output)}",
                        code="NDL005",
                        help=v.help,
                    )
                )


def check_optimizer(
    values: Mapping[str, Any], backend: str | None, nodes: Sequence[Node], program: ir.Program
) -> list[NetdslError]:
    """The optimizer's ``sparse_rules`` when a layer of the network has sparse gradients on
    TensorFlow (``embedding``): an error at the argument (or the optimizer) Keras would fail on,
    with a note at the layer. ``backend`` is the effective one (None: not known, no rule)."""
    ref = values.get("optimizer")
    if (
        backend != "tensorflow"
        or not isinstance(ref, Ref)
        or not isinstance(ref.component, Optimizer)
        or not ref.component.sparse_rules
    ):
        return []
    sparse = next((n for n in nodes if getattr(n.component, "sparse_gradients", False)), None)
    if sparse is None:
        return []
    component, setting = ref.component, program.setting("optimizer")
    written = setting.value if setting is not None else None
    args = {p.name: p.default for p in component.params}
    args.update(ref.kwargs)
    names = {p.name for p in component.params} | {""}
    errors: list[NetdslError] = []
    for rule in component.sparse_rules:
        found, broken = apply_rule(rule, (args,), names)
        errors.extend(
            _broken_rule(
                f"a sparse-gradient rule of optimizer `{ref.name}`",
                rule,
                what,
                getattr(written, "span", None),
            )
            for what in broken
        )
        for v in found:
            span = (
                _param_span(written, component, v.param)
                if v.param
                else getattr(written, "span", None)
            )
            what = (
                f"bad `{v.param}` for optimizer `{ref.name}`"
                if v.param
                else f"optimizer `{ref.name}`"
            )
            errors.append(
                NetdslArgumentError(
                    f"{what}: {v.message}",
                    span or getattr(written, "span", None),
                    label=f"`{sparse.layer}` has sparse gradients",
                    code="NDL005",
                    help=v.help,
                    notes=[Note(sparse.span, f"`{sparse.layer}` is here")] if sparse.span else [],
                )
            )
    return errors


def _broken_rule(whose: str, rule: Any, what: str, span: Any) -> NetdslError:
    """A plugin's rule that raised or returned nonsense: an error naming it, never a traceback."""
    from ..errors import NetdslPluginError

    return NetdslPluginError(
        f"{whose} ({getattr(rule, '__qualname__', rule)}) {what}",
        span,
        code="NDL206",
        label="plugin error",
        help="this is a bug in the plugin that declares it; report it there",
    )


def _param_span(value: Any, component: Any, name: str) -> Any:
    """Where argument ``name`` of a written component call is (by key, or by position)."""
    if not isinstance(value, ir.Call):
        return getattr(value, "span", None)
    positional = [p.name for p in component.params if p.positional]
    at = 0
    for arg in value.args:
        if arg.key == name:
            return arg.span
        if arg.key is None:
            if at < len(positional) and positional[at] == name:
                return arg.span
            at += 1
    return value.span


def _wrong_target(
    out: TrainingTarget, loss: Ref, kind: str, dataset: str, program: ir.Program
) -> None:
    """A loss that cannot train on the dataset's target (``ctc`` needs label sequences, a sparse
    loss needs class ids)."""
    assert isinstance(loss.component, Loss)
    can = loss.component.targets
    setting = program.setting("loss")
    out.errors.append(
        NetdslArgumentError(
            f"loss `{loss.name}` cannot train on `{dataset}`, whose target is {_TARGET_WORDS[kind]}",
            setting.value.span if setting else None,
            label="not for this target",
            code="NDL005",
            expected=(
                " or ".join(_TARGET_WORDS[t] for t in can)
                if can
                else "a target that no netdsl dataset gives (label sequences)"
            ),
            help="leave out `loss:` for the default, or pick a loss for this target",
        )
    )


_TARGET_WORDS = {"classes": "class ids", "binary": "0/1 labels", "regression": "real values"}

_LABEL_WORDS = {"sparse": "integer class ids", "categorical": "one-hot labels", "any": "any labels"}


def _check_output(
    out: TrainingTarget, info: DataInfo, last: Node, shape: Shape, dataset: str
) -> None:
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
    out.errors.append(
        NetdslShapeError(
            f"the network must end with {what}: {format_shape(want)}, but `{last.layer}` gives "
            f"{format_shape(shape)}",
            last.span,
            label=f"output {format_shape(shape)}",
            code="NDL013",
            help=f"end with `{fix}`",
        )
    )


def logged_quantities(settings: Mapping[str, Any]) -> list[str]:
    """What training logs each epoch, by Keras's names: ``loss``, each metric, and with
    validation data ``val_`` of each."""
    metrics = settings.get("metrics") or ()
    if isinstance(metrics, dict):  # a graph: Keras logs each output's loss and metrics by name
        base = ["loss", *[f"{o}_loss" for o in metrics]]
        base += [f"{o}_{m.name}" for o, ms in metrics.items() for m in ms]
    else:
        base = ["loss", *[m.name for m in metrics]]
    val = [f"val_{q}" for q in base] if settings.get("validation_split") else []
    return [*base, *val]


def check_monitors(
    settings: Mapping[str, Any], program: ir.Program | None = None
) -> list[NetdslError]:
    """Every callback argument naming a logged quantity (a ``Quantity`` parameter) names one
    this program logs: ``val_*`` needs validation data, a metric's name needs that metric."""
    from ..vocab import types as T
    from ..vocab.components import Callback

    errors: list[NetdslError] = []
    optimizer = settings.get("optimizer")
    rate = optimizer.kwargs.get("learning_rate") if isinstance(optimizer, Ref) else None
    setting = program.setting("callbacks") if program is not None else None
    written = (
        list(setting.value.items)
        if setting is not None and isinstance(setting.value, ir.List)
        else [setting.value]
        if setting is not None
        else []
    )
    for i, ref in enumerate(settings.get("callbacks") or ()):
        if (
            isinstance(ref.component, Callback)
            and ref.component.sets_learning_rate
            and isinstance(rate, Ref)
        ):
            errors.append(
                NetdslArgumentError(
                    f"`{ref.name}` changes the learning rate, which the schedule `{rate.name}` already decides",
                    getattr(written[i], "span", None) if i < len(written) else None,
                    label="conflicts with the schedule",
                    code="NDL005",
                    help="use a plain learning rate with it, or drop the callback",
                )
            )
    logged = logged_quantities(settings)
    for i, ref in enumerate(settings.get("callbacks") or ()):
        component = ref.component
        if component is None:
            continue
        for param in component.params:
            value = ref.kwargs.get(param.name)
            if not isinstance(param.type, T.Quantity) or value is None or value in logged:
                continue
            span = _arg_span(written[i] if i < len(written) else None, param.name) or (
                setting.value.span if setting is not None else None
            )
            if value.startswith("val_") and value[4:] in logged:
                msg = f"`{ref.name}` watches `{value}`, but the program has no validation data"
                fix = "add `validation_split: 0.1` (or pass --validation-split 0.1)"
            else:
                from ..vocab.registry import suggest

                close = suggest(value, logged)
                msg = f"`{ref.name}` watches `{value}`, which training does not log"
                fix = (
                    f"did you mean `{close}`? " if close else ""
                ) + f"logged: {', '.join(f'`{q}`' for q in logged)}"
            errors.append(
                NetdslArgumentError(msg, span, label="not logged", code="NDL005", help=fix)
            )
    return errors


def _arg_span(value: Any, key: str) -> Any:
    if isinstance(value, ir.Call):
        for arg in value.args:
            if arg.key == key:
                return arg.value.span
        return value.span
    return getattr(value, "span", None)


#: (target kind, final activation) -> (why it cannot work, the fix); None stands for "any other
#: activation than the allowed ones" of that target. Checked only when the loss is the default
#: one (a loss the program names is trusted), except rows marked always.
_ALLOWED = {"classes": ("softmax", "linear", None), "binary": ("sigmoid", "linear", None)}
_ACTIVATION_RULES: Mapping[tuple[str, str | None], tuple[str, str, bool]] = {
    ("regression", "softmax"): (
        "softmax makes the outputs sum to 1 (a single unit always outputs 1.0), so it cannot "
        "follow real-valued targets",
        "end with a linear output: `dense {units}`",
        True,
    ),
    ("classes", "sigmoid"): (
        "sigmoid scores each class on its own, but the default loss `{loss}` reads one "
        "probability distribution over the classes",
        "end with `dense {units} softmax`",
        False,
    ),
    ("classes", None): (
        "`{act}` does not give class probabilities; the default loss `{loss}` needs softmax "
        "(or no activation, read as logits)",
        "end with `dense {units} softmax`",
        False,
    ),
    ("binary", "softmax"): (
        "softmax over one unit always outputs 1.0, so the network could never say 0",
        "end with `dense 1 sigmoid`",
        False,
    ),
    ("binary", None): (
        "`{act}` does not give a probability in [0, 1]; the default loss `{loss}` needs sigmoid "
        "(or no activation, read as logits)",
        "end with `dense 1 sigmoid`",
        False,
    ),
}


def _check_activation(
    out: TrainingTarget, info: DataInfo, nodes: Sequence[Node], dataset: str, default_loss: bool
) -> None:
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
    what = {
        "classes": f"{info.target.num_classes} classes",
        "binary": "a binary target",
        "regression": "a regression target",
    }[kind]
    out.errors.append(
        NetdslShapeError(
            f"the network ends with `{act}`, but `{dataset}` has {what}: "
            + why.format(act=act, loss=loss, units=units),
            last.span,
            label=f"`{act}` output for {what}",
            code="NDL013",
            help=fix.format(units=units),
        )
    )
