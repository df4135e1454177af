"""Check: resolve names against the registry, bind arguments, infer shapes and parameter counts.

Everything here is pure Python (no TensorFlow). ``check`` reports every error it can find in
one pass; on success it returns the plan (:class:`~netdsl.checking.plan.CheckedModel`). The
passes, in order, each its own module reporting into one :class:`~.collector.Collector`: the
settings (:mod:`.settings_pass`, read by the table in :mod:`netdsl.vocab.settings`, overrides
applied), the blocks (:mod:`.blocks`), the dataset's answers (:mod:`.data_pass`, its
``describe``, never its data), the expansion limits (:mod:`.limits`), the shape walk over the
network (:mod:`.walk`, with :mod:`.inputs`, :mod:`.wrappers`, :mod:`.names` and :mod:`.nodes`),
and the training target (:mod:`.target`: the loss, metrics and output the dataset's target
calls for) with the backend's rules.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..errors import (
    NetdslError,
    NetdslErrors,
    NetdslLimitError,
    NetdslSpaceError,
    NetdslSyntaxError,
    Span,
)
from ..lang import ir
from ..lang.parser import parse
from ..lang.space import has_space
from ..vocab.backends import resolve as resolve_backend
from ..vocab.components import DataInfo
from ..vocab.registry import Registry, default_registry
from ..vocab.settings import TABLE, Settings
from .backends import problems as backend_problems
from .blocks import Blocks, read_blocks
from .collector import Collector
from .context import (
    MAX_BLOCK_DEPTH,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_PARAMS,
    MAX_VALUES,
    UNKNOWN,
    Ctx,
    Out,
)
from .data_pass import anchored, check_data_settings, describe
from .graph import Node, format_shape
from .limits import Expansion
from .plan import CheckedModel, Origin, Sizes, run_steps, split_sizes
from .settings_pass import read_settings
from .target import check_monitors, check_optimizer, training_target
from .walk import Walk

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_LAYERS",
    "MAX_NESTING",
    "MAX_PARAMS",
    "MAX_VALUES",
    "CheckedModel",
    "Node",
    "check",
    "expanded_layers",
    "format_shape",
]


def check(
    program_or_text: ir.Program | str | bytes,
    registry: Registry | None = None,
    *,
    filename: str | None = None,
    data: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CheckedModel:
    """Check a program (or source text); raise every error found, else return the plan.

    ``data`` is the file or folder the user pointed the program's dataset at (``--data``); the
    dataset reads only its metadata here. ``overrides`` are settings given apart from the
    program (``netdsl run --epochs 2``), as Python values: they replace the program's lines
    before any rule runs, so every rule sees them.
    """
    program = (
        program_or_text
        if isinstance(program_or_text, ir.Program)
        else parse(program_or_text, filename, setting_names=TABLE)
    )
    if has_space(program):
        _refuse_space(program)
    origin = Origin(
        check,
        registry,
        os.fspath(data) if data is not None else None,
        MappingProxyType(dict(overrides or {})),
    )
    collector = Collector()
    try:
        model = _run(program, registry or default_registry(), origin, collector)
    except RecursionError:  # a safety net: MAX_NESTING should stop every walk long before
        net = program.network
        err = NetdslLimitError(
            "the network nests too deeply to check",
            net.span if net else None,
            label="too deeply nested",
            code="NDL012",
            help="use blocks and brackets less deeply",
        )
        err.source = program.source
        raise err from None
    if collector.errors:
        error = _error_of(collector.errors, program, collector.sources)
        del collector  # the error's traceback keeps this frame: it must not lead back to the
        try:  # error, or the whole checked graph becomes a reference cycle
            raise error
        finally:
            del error
    assert model is not None
    return model


def _refuse_space(program: ir.Program) -> None:
    """A search space is checked point by point (:mod:`netdsl.search.check`), never as one
    program: say so at its first ``choice``/``range``, not "unknown name `choice`"."""
    from ..lang.space import first_space_span

    err = NetdslSpaceError(
        "this program is a search space, not one network",
        first_space_span(program),
        label="a search space",
        code="NDL016",
        help="`netdsl check` checks every point, `netdsl tune` trains it; `netdsl run` takes "
        "a plain program, such as the best.net a study writes",
    )
    err.source = program.source
    raise err


def _run(
    program: ir.Program, registry: Registry, origin: Origin, collector: Collector
) -> CheckedModel | None:
    """The passes in order; the plan, or None when any reported an error."""
    values = read_settings(program, origin.overrides, collector.binder(registry), collector)
    if "dataset" in values:
        values["dataset"] = anchored(values["dataset"], program, origin.overrides)
    blocks = read_blocks(program, registry, collector)
    collector.sources = blocks.sources
    info = describe(values.get("dataset"), values.get("input"), origin.data, program, collector)
    if info is not None:
        check_data_settings(values, info, program, origin.overrides, collector)
    if _is_graph(program, values, info):
        return _run_graph(program, registry, origin, collector, values, blocks, info)
    if program.network is None:
        _no_network(program, collector)
        return None
    walk = Walk(program, registry, collector, blocks, info)
    input_shape = values.get("input") or (info.input_shape if info else None)
    out = _walk_network(walk, program.network, blocks, input_shape)
    nodes = walk.nodes.made
    if info is None or "dataset" not in values:
        return None
    target = training_target(
        values, info, nodes, out[1], registry, collector.binder(registry), program
    )
    collector.extend(target.errors)
    collector.extend(check_monitors({**values, "metrics": target.metrics}, program))
    backend = _effective_backend(values.get("backend"))
    collector.extend(check_optimizer(values, backend, nodes, program))
    _check_total_params(nodes, program.network, collector)
    if collector.errors:
        return None
    values.update(input=tuple(input_shape or ()), loss=target.loss, metrics=target.metrics)
    model = _plan(program, tuple(nodes), Settings.of(values), info, target.labels, backend, origin)
    if backend is not None and registry.restricts_backends:  # each component runs there
        collector.extend(backend_problems(model, backend))
    return None if collector.errors else model


def _is_graph(program: ir.Program, values: Mapping[str, Any], info: DataInfo | None) -> bool:
    """A graph: names in the program, settings per output, or data with named inputs."""
    per_output = any(isinstance(values.get(k), dict) for k in ("loss", "metrics", "loss_weights"))
    if info is not None and info.columns:  # a typed table whose columns the program names
        from .column_inputs import routed_columns

        if routed_columns(program, info.columns):
            return True
    return bool(program.bindings) or per_output or (info is not None and info.is_named)


def _run_graph(
    program: ir.Program,
    registry: Registry,
    origin: Origin,
    collector: Collector,
    values: dict[str, Any],
    blocks: Blocks,
    info: DataInfo | None,
) -> CheckedModel | None:
    """The graph passes: the walk over every named chain, the outputs matched with the
    data's targets, a training target per output (:mod:`.graph_pass`, :mod:`.graph_targets`)."""
    from .graph_pass import check_output_keys, match_outputs, walk_graph, warnings
    from .graph_targets import graph_plan_parts

    if program.network is None and not any(b.kind != "shared" for b in program.bindings):
        _no_network(program, collector)
        return None
    _no_normalize(program, values, collector)
    walk = Walk(program, registry, collector, blocks, info)
    scope, outputs = walk_graph(walk, program, registry, blocks, info, values.get("input"))
    nodes = walk.nodes.made
    if info is None or "dataset" not in values:
        return None
    named = match_outputs(outputs, info, program, collector)
    collector.extend(check_output_keys(values, [o.name for o in named if o.name]))
    if collector.errors or not named:
        return None
    parts = graph_plan_parts(values, info, nodes, named, scope, registry, collector, program)
    backend = _effective_backend(values.get("backend"))
    collector.extend(check_monitors(values, program))
    collector.extend(check_optimizer(values, backend, nodes, program))
    if program.network is not None:
        _check_total_params(nodes, program.network, collector)
    if collector.errors or parts is None:
        return None
    inputs, outs, labels = parts
    # a typed table's `input:` is its whole encoded width (what `check` compares on reload)
    values.update(input=tuple(info.input_shape if info.columns else inputs[0].shape))
    model = _plan(program, tuple(nodes), Settings.of(values), info, labels, backend, origin)
    found = warnings(program, scope)
    for w in found:
        w.source = program.source
    tensors = tuple((name, out[0][0]) for name, out in scope.tensors.items() if out[0])
    model = dataclasses.replace(
        model,
        inputs=inputs,
        outputs=outs,
        tensors=tensors,
        warnings=tuple(found),
    )
    if backend is not None and registry.restricts_backends:
        collector.extend(backend_problems(model, backend))
    return None if collector.errors else model


def _no_normalize(program: ir.Program, values: Mapping[str, Any], collector: Collector) -> None:
    """``normalize: true`` adapts one Normalization layer on the one input: not for a graph."""
    if not values.get("normalize"):
        return
    from ..errors import NetdslSettingError

    setting = program.setting("normalize")
    collector.error(
        NetdslSettingError(
            "`normalize` standardises a chain program's one input; a graph cannot use it yet",
            setting.key_span if setting else None,
            label="not for a graph",
            code="NDL004",
            help="remove `normalize:`, or add a `normalization` step after each input that "
            "needs one",
        )
    )


def _walk_network(walk: Walk, network: ir.Chain, blocks: Blocks, input_shape: Any) -> Out:
    """The shape walk from the input; a network that expands past MAX_LAYERS is reported
    where, then walked without expanding (every name and argument still checked, once each)."""
    start: Out = ((), tuple(input_shape) if input_shape else UNKNOWN)
    ctx = Ctx()
    expansion = Expansion(blocks.defs)
    if expansion.chain(network) > MAX_LAYERS:
        expansion.report(network, walk.collector)
        ctx, start = Ctx(shallow=True), ((), UNKNOWN)
    out = walk.chain(network, start, ctx)
    walk.unused_blocks()
    return out


def _no_network(program: ir.Program, collector: Collector) -> None:
    src = program.source or ""
    at = len(src) - len(src.lstrip()) if src.strip() else 0
    collector.error(
        NetdslSyntaxError(
            "the program has no network" + (" (the file is empty)" if not src.strip() else ""),
            Span.point(src, at, program.filename, width=0),
            label="expected a layer",
            expected="at least one layer, e.g. `dense 10 softmax`",
            code="NDL010",
            help="a whole program can be one line: `dense 64 relu -> dense 10 softmax`",
        )
    )


def _check_total_params(nodes: Sequence[Node], network: ir.Chain, collector: Collector) -> None:
    total = sum(n.params for n in nodes)
    if total > MAX_PARAMS:
        collector.error(
            NetdslLimitError(
                f"the network has {total:,} parameters ({total * 4 / 2**30:,.0f} GB of weights), "
                "more "
                f"than netdsl builds ({MAX_PARAMS:,})",
                network.span,
                label="too large",
                code="NDL012",
                help="use fewer or smaller layers",
            )
        )


def _effective_backend(setting: str | None) -> str | None:
    """The backend training will use (:func:`netdsl.vocab.backends.resolve`); None when
    ``$KERAS_BACKEND`` names none netdsl knows (reported where Keras is imported)."""
    try:
        return resolve_backend(setting)
    except NetdslError:
        return None


def _plan(
    program: ir.Program,
    nodes: tuple[Node, ...],
    settings: Settings,
    info: DataInfo,
    labels: str,
    backend: str | None,
    origin: Origin,
) -> CheckedModel:
    """The plan, with the figures derived from the settings and the dataset's description."""
    n = info.train_size
    if n is None:
        return CheckedModel(
            program,
            nodes,
            settings,
            info,
            labels,
            backend,
            Sizes(None, None, info.test_size),
            origin=origin,
        )
    train, validation = split_sizes(n, settings.validation_split)
    per_epoch, total = run_steps(n, settings)
    return CheckedModel(
        program,
        nodes,
        settings,
        info,
        labels,
        backend,
        Sizes(train, validation, info.test_size),
        per_epoch,
        total,
        origin,
    )


def _error_of(
    errors: list[NetdslError], program: ir.Program, sources: Mapping[str, str]
) -> NetdslError:
    """The one error to raise for ``errors`` (duplicates merged), each knowing its source (the
    program's, or that of the library or plugin block its span is in)."""
    for group in errors:
        for e in group.errors:
            if e.source is not None:
                continue
            if e.span is None or e.span.file == program.filename:
                e.source = program.source
            elif e.span.file is not None and e.span.file in sources:
                e.source = sources[e.span.file]
    merged = _merge_duplicates(errors)
    return merged[0] if len(merged) == 1 else NetdslErrors(merged)


def _merge_duplicates(errors: Sequence[NetdslError]) -> list[NetdslError]:
    """One error per mistake: the same error found again (a block used twice) keeps its first
    report and gains the other's notes, so it points at the definition and at every use."""
    out: list[NetdslError] = []
    seen: dict[tuple[Any, ...], NetdslError] = {}
    for group in errors:
        for e in group.errors:
            key = (
                e.code,
                e.message,
                e.span.start if e.span else None,
                e.span.end if e.span else None,
            )
            first = seen.get(key)
            if first is None:
                seen[key] = e
                out.append(e)
            else:
                first.notes = first.notes + tuple(n for n in e.notes if n not in first.notes)
    return out


def expanded_layers(program: ir.Program, registry: Registry | None = None) -> int:
    """How many layers ``program``'s network expands to (blocks, repetition, branches), worked
    out by arithmetic without expanding it; capped at MAX_LAYERS + 1 (what ``check`` refuses).
    Implicit adapter layers are not counted. For the cost figures of bench/fuzz.py."""
    if program.network is None:
        return 0
    return Expansion({b.name: b for b in program.blocks}).chain(program.network)
