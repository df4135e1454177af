"""Check: resolve names against the registry, bind arguments, infer shapes and parameter counts.

Everything here is pure Python (no TensorFlow). ``check`` reports every error it can find in
one pass; on success it returns a :class:`~netdsl.graph.CheckedModel`. The stages, in order:
the settings (read by the table in :mod:`netdsl.settings`), the dataset's answers (its
``describe``, never its data), the shape walk over the network (blocks, repetition, branches,
wrappers and implicit adapters, all declared by components), and the training target (the loss,
metrics and output the dataset's target calls for, in :mod:`netdsl.target`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from . import ir
from . import types as T
from .bind import Binder, substitute, unknown_name
from .components import (INPUT_KINDS, Component, DataInfo, DataRequest, Dataset, Layer, Param,
                         ShapeProblem)
from .errors import (NetdslError, NetdslErrors, NetdslNameError, NetdslSettingError,
                     NetdslShapeError, NetdslSyntaxError, Note, Span)
from .formatter import format_step, format_value
from .graph import CheckedModel, Node, Shape, format_shape
from .parser import parse
from .registry import Registry, default_registry, suggest
from .backends import problems as backend_problems
from .settings import SETTINGS, TABLE, Settings, value_to_ir
from .target import training_target

__all__ = ["check", "CheckedModel", "Node", "format_shape", "MAX_BLOCK_DEPTH", "MAX_LAYERS",
           "MAX_NESTING"]

#: how deep block uses may nest (a block using a block using a block ...)
MAX_BLOCK_DEPTH = 50
#: how deep the walk may go through brackets and block uses together
MAX_NESTING = 100
#: the most layers a network may expand to (repetition multiplies; this keeps `* 10**9` from hanging)
MAX_LAYERS = 100_000  # far above real networks; bounds `(a) * 10**20`

_UNKNOWN: Any = None  # the shape after an error: later layers are still bound, not inferred


def check(program_or_text: ir.Program | str | bytes, registry: Registry | None = None, *,
          filename: str | None = None, data: str | os.PathLike[str] | None = None) -> CheckedModel:
    """Check a program (or source text); raise every error found, else return the checked model.

    ``data`` is the file or folder the user pointed the program's dataset at (``--data``); the
    dataset reads only its metadata here.
    """
    program = (program_or_text if isinstance(program_or_text, ir.Program)
               else parse(program_or_text, filename))
    checker = _Checker(program, registry or default_registry(),
                       os.fspath(data) if data is not None else None)
    try:
        model = checker.run()
    except RecursionError:  # a safety net: MAX_NESTING should stop every walk long before
        net = program.network
        err = NetdslShapeError(
            "the network nests too deeply to check", net.span if net else None,
            label="too deeply nested", code="NDL012",
            help="use blocks and brackets less deeply")
        err.source = program.source
        raise err from None
    if checker.errors:
        for group in checker.errors:
            for e in group.errors:
                if e.source is None and (e.span is None or e.span.file == program.filename):
                    e.source = program.source
        errors = _merge_duplicates(checker.errors)
        raise errors[0] if len(errors) == 1 else NetdslErrors(errors)
    assert model is not None
    return model


def _chain_value(chain: ir.Chain) -> ir.Value | None:
    """Inside ``name(...)`` a bare name or call parses as a one-step chain; read it as the value
    it stands for (``relu``, ``l2(0.01)``), or None for a real sub-network."""
    step = chain.steps[0]
    if len(chain.steps) != 1 or not isinstance(step, ir.Layer):
        return None
    if not step.call:
        return None if step.args or step.body else ir.Name(step.name, step.span)
    inner = [_chain_value(c) for c in step.body]
    if any(v is None for v in inner):
        return None
    args = (*step.args, *(ir.Arg(v, span=v.span) for v in inner if v is not None))
    return ir.Call(step.name, args, step.span, step.name_span)


def _merge_duplicates(errors: Sequence[NetdslError]) -> list[NetdslError]:
    """One error per mistake: the same error found again (a block used twice) keeps its first
    report and gains the other's notes, so it points at the definition and at every use."""
    out: list[NetdslError] = []
    seen: dict[tuple[Any, ...], NetdslError] = {}
    for group in errors:
        for e in group.errors:
            key = (e.code, e.message, e.span.start if e.span else None, e.span.end if e.span else None)
            first = seen.get(key)
            if first is None:
                seen[key] = e
                out.append(e)
            else:
                first.notes = first.notes + tuple(n for n in e.notes if n not in first.notes)
    return out


@dataclass(frozen=True)
class _Ctx:
    """Where the walk is: block parameters in scope, notes to add, block nesting, display depth."""

    subst: Mapping[str, ir.Value] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()
    blocks: tuple[str, ...] = ()
    depth: int = 0


_Out = tuple[tuple[int, ...], Any]  # (input node indices, shape)
_AnyValue = T.OneOf((T.Int(), T.Float(), T.Bool(), T.Str(), T.ShapeT(allow_unknown=True)))


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


def _block_component(block: ir.BlockDef) -> Component:
    """A block seen as a component whose parameters are its names (bound by position), so
    binding a use gives the binder's own errors: unknown, given twice, missing, one too many."""
    return _Block(name=block.name, params=tuple(Param(p, _RawValue(), positional=True)
                                                   for p in block.params))


class _Checker:
    def __init__(self, program: ir.Program, registry: Registry, data: str | None) -> None:
        self.program = program
        self.registry = registry
        self.data_path = data
        self.errors: list[NetdslError] = []
        self.nodes: list[Node] = []
        self.blocks: dict[str, ir.BlockDef] = {}
        self.broken: set[str] = set()  # blocks whose definition is in error: uses are not checked
        self.too_big = False  # MAX_LAYERS was passed (and reported)
        self.nesting = 0  # chains being walked, one inside the other
        self.too_deep = False  # MAX_NESTING was passed (and reported)
        self._steps: dict[type, Callable[[Any, _Out, _Ctx], _Out]] = {
            ir.Layer: self._layer, ir.Repeat: self._repeat, ir.Branches: self._branches,
        }

    def binder(self, ctx: _Ctx) -> Binder:
        b = Binder(self.registry, ctx.notes)
        b.errors = self.errors
        return b

    def error(self, err: NetdslError, ctx: _Ctx | None = None) -> None:
        if ctx is not None and ctx.notes:
            err.notes = err.notes + ctx.notes
        self.errors.append(err)

    # --- the whole program --------------------------------------------------------------------
    def run(self) -> CheckedModel | None:
        values = self._settings()
        self._blocks()
        info = self._describe(values.get("dataset"), values.get("input"))
        input_shape = values.get("input") or (info.input_shape if info else None)
        if info is not None and values.get("input") and not _same_size(values["input"], info.input_shape):
            where = self.program.setting("input")
            self.error(NetdslSettingError(
                f"`input: {'x'.join(map(str, values['input']))}` does not fit `{values['dataset'].name}`, "
                f"whose examples are {'x'.join(map(str, info.input_shape))}",
                where.value.span if where else None, label="not the dataset's size", code="NDL005",
                help=f"remove the line, or give a shape of {_size(info.input_shape):,} values"))
        if self.program.network is None:
            src = self.program.source or ""
            at = len(src) - len(src.lstrip()) if src.strip() else 0
            self.error(NetdslSyntaxError(
                "the program has no network" + (" (the file is empty)" if not src.strip() else ""),
                Span.point(src, at, self.program.filename, width=0),
                label="expected a layer", expected="at least one layer, e.g. `dense 10 softmax`",
                code="NDL010", help="a whole program can be one line: `dense 64 relu -> dense 10 softmax`"))
            return None
        start = ((), tuple(input_shape) if input_shape else _UNKNOWN)
        out = self._chain(self.program.network, start, _Ctx())
        if info is None or "dataset" not in values:
            return None
        target = training_target(values, info, self.nodes, out[1], self.registry, self.binder(_Ctx()),
                                 self.program)
        self.errors.extend(target.errors)
        if self.errors:
            return None
        values.update(input=tuple(input_shape), loss=target.loss, metrics=target.metrics)
        model = CheckedModel(self.program, tuple(self.nodes), Settings(values), info, target.labels)
        if values.get("backend"):  # `backend: jax` in the program: every component must run there
            self.errors.extend(backend_problems(model, values["backend"]))
        return None if self.errors else model

    def _settings(self) -> dict[str, Any]:
        seen: dict[str, ir.Setting] = {}
        binder = self.binder(_Ctx())
        values: dict[str, Any] = {}
        for s in self.program.settings:
            row = TABLE.get(s.key)
            if row is None:
                close = suggest(s.key, TABLE)
                self.error(NetdslSettingError(
                    f"unknown setting `{s.key}`", s.key_span, label="not a setting", code="NDL004",
                    expected=", ".join(f"`{k}`" for k in TABLE),
                    help=f"did you mean `{close}`?" if close else None))
                continue
            if s.key in seen:
                self.error(NetdslSettingError(
                    f"`{s.key}` is set twice", s.key_span, label="second setting", code="NDL004",
                    help=f"keep one `{s.key}:` line",
                    notes=[Note(seen[s.key].key_span, "first set here")] if seen[s.key].key_span else []))
                continue
            seen[s.key] = s
            try:
                values[s.key] = row.type.convert(s.value, binder)
            except T.Problem as p:
                node = p.node if p.node is not None and getattr(p.node, "span", None) else s.value
                self.error(NetdslSettingError(
                    f"bad `{s.key}`: {p.message}", getattr(node, "span", None),
                    label=f"expected {p.expected}", code="NDL005", help=p.help))
            except NetdslError as e:
                self.error(e)
        for row in SETTINGS:
            if row.name in seen:
                continue
            default = row.default
            if isinstance(row.type, (T.Ref, T.ListOf)) and default is not None:
                names = default if isinstance(default, tuple) else (default,)
                kind = row.type.kind if isinstance(row.type, T.Ref) else row.type.item.kind  # type: ignore[attr-defined]
                try:
                    refs = [binder.bind_ref(kind, ir.Name(n)) for n in names]
                except NetdslError as e:
                    self.error(NetdslSettingError(f"the default {row.name} is not available: {e.message}",
                                                  help="set it explicitly or install its plugin"))
                    continue
                values[row.name] = refs if isinstance(default, tuple) else refs[0]
            else:
                values[row.name] = default
        return values

    def _describe(self, dataset: Any, input_shape: Shape | None) -> DataInfo | None:
        """The dataset's answers (input shape, target), from its metadata only."""
        if dataset is None or not isinstance(dataset.component, Dataset):
            return None
        component: Dataset = dataset.component
        args = dataset.kwargs
        path = args.get("path") or self.data_path
        request = DataRequest(component.name, args, os.fspath(path) if path else None, component.env,
                              input_shape)
        where = self.program.setting("dataset")
        try:
            info = component.describe(request)
        except NetdslError as e:
            if e.span is None and where is not None:
                e.span = where.value.span
            self.error(e)
            return None
        except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported, never a traceback
            from .errors import NetdslPluginError

            self.error(NetdslPluginError(
                f"dataset `{component.name}` failed to describe its data: {type(exc).__name__}: {exc}",
                where.value.span if where else None, code="NDL205"))
            return None
        if not isinstance(info, DataInfo) or not info.input_shape:
            from .errors import NetdslPluginError

            self.error(NetdslPluginError(
                f"dataset `{component.name}` answered {info!r}, not a DataInfo with an input shape",
                where.value.span if where else None, code="NDL205"))
            return None
        return info

    def _blocks(self) -> None:
        for b in self.program.blocks:
            if b.name in self.blocks:
                self.error(NetdslNameError(
                    f"block `{b.name}` is defined twice", b.name_span, label="second definition",
                    code="NDL011", notes=_note(self.blocks[b.name].name_span, "first defined here")))
                continue
            if self.registry.get("layer", b.name) is not None:
                self.error(NetdslNameError(
                    f"block `{b.name}` has the name of a layer", b.name_span, label="already a layer",
                    code="NDL011", help="give the block another name"))
                continue
            dup = [p for i, p in enumerate(b.params) if p in b.params[:i]]
            if dup:
                self.error(NetdslNameError(f"block `{b.name}` names parameter `{dup[0]}` twice",
                                           b.name_span, label=f"`{dup[0]}` twice", code="NDL011",
                                           help="give each parameter its own name"))
                self.broken.add(b.name)
                continue
            self.blocks[b.name] = b

    # --- the network --------------------------------------------------------------------------
    def _chain(self, chain: ir.Chain, inp: _Out, ctx: _Ctx) -> _Out:
        if self.nesting >= MAX_NESTING:
            if not self.too_deep:
                self.too_deep = True
                self.error(NetdslShapeError(
                    f"brackets and block uses nest more than {MAX_NESTING} levels deep", chain.span,
                    label="too deeply nested", code="NDL012",
                    help="use blocks and brackets less deeply"), ctx)
            return inp[0], _UNKNOWN
        self.nesting += 1
        try:
            for step in chain.steps:
                if self._too_big(step.span, "one layer too many", ctx):
                    return inp[0], _UNKNOWN
                inp = self._steps[type(step)](step, inp, ctx)
            return inp
        finally:
            self.nesting -= 1

    def _too_big(self, span: Span | None, label: str, ctx: _Ctx) -> bool:
        """Whether the network has grown past MAX_LAYERS (reported once, where it happened)."""
        if len(self.nodes) <= MAX_LAYERS:
            return False
        if not self.too_big:
            self.too_big = True
            self.error(NetdslShapeError(
                f"the network expands to more than {MAX_LAYERS:,} layers", span, label=label,
                code="NDL012", help="repeat fewer times, or use blocks less deeply"), ctx)
        return True

    def _repeat(self, rep: ir.Repeat, inp: _Out, ctx: _Ctx) -> _Out:
        if rep.times < 1:
            self.error(NetdslSyntaxError(f"a group repeats at least once, not {rep.times} times",
                                         rep.times_span, label="expected an integer >= 1", code="NDL005"), ctx)
            return inp[0], _UNKNOWN
        for _ in range(rep.times):
            if self._too_big(rep.times_span or rep.span, "repeats too often", ctx):
                return inp[0], _UNKNOWN
            before = len(self.errors)
            inp = self._chain(rep.chain, inp, ctx)
            if len(self.errors) > before:
                break  # the same mistake in every copy is reported once
        return inp

    def _branches(self, br: ir.Branches, inp: _Out, ctx: _Ctx) -> _Out:
        inner = dataclasses.replace(ctx, depth=ctx.depth + 1)
        outs = [self._chain(c, inp, inner) for c in br.chains]
        merges = [e.component for e in self.registry.entries("layer") if isinstance(e.component, Layer)
                  and e.component.merge]
        merge_name = br.merge or next((m.name for m in merges if m.default_merge), None)
        merge = self.registry.get("layer", merge_name) if merge_name else None
        if not isinstance(merge, Layer) or not merge.merge:
            names = [m.name for m in merges]
            close = suggest(merge_name, names) if merge_name else None
            self.error(NetdslNameError(
                f"`{merge_name}` cannot merge branches" if merge_name
                else "these branches need a merge layer after `]`", br.merge_span or br.span,
                label="not a merge layer" if merge_name else "no merge", code="NDL003",
                expected=", ".join(f"`{c}`" for c in names) or "a merge layer",
                help=f"did you mean `{close}`?" if close else None), ctx)
            return (), _UNKNOWN
        shapes = [o[1] for o in outs]
        inputs = tuple(o[0][0] if o[0] else -1 for o in outs)
        args = self.binder(ctx).bind(merge, (), br.merge_span) or {}
        if any(s is _UNKNOWN for s in shapes):
            return (), _UNKNOWN
        return self._infer_node(merge, args, inputs, shapes, br.merge_span or br.span,
                                f"{merge.name} ({len(outs)} branches)", ctx, merge_args=True)

    def _layer(self, layer: ir.Layer, inp: _Out, ctx: _Ctx) -> _Out:
        if layer.name in self.blocks:
            return self._use_block(layer, inp, ctx)
        if layer.name in self.broken:
            return inp[0], _UNKNOWN  # its definition is already reported
        component = self.registry.get("layer", layer.name)
        if not isinstance(component, Layer):
            self._unknown_layer(layer, ctx)
            return inp[0], _UNKNOWN
        args = tuple(substitute(a, ctx.subst) for a in layer.args)
        if self._missing_arrow(component, layer, args, ctx):
            return inp[0], _UNKNOWN
        if component.merge:
            self.error(NetdslShapeError(
                f"`{layer.name}` merges branches and cannot stand alone", layer.name_span,
                label="needs branches", code="NDL008",
                help=f"write branches and merge them: `[a | b] {layer.name}`"), ctx)
            return inp[0], _UNKNOWN
        if component.wrapper == "chain":
            return self._wrap_chain(component, layer, args, inp, ctx)
        if component.wrapper == "layer":
            return self._wrap_layer(component, layer, args, inp, ctx)
        args = (*args, *self._body_values(layer, ctx))
        bound = self.binder(ctx).bind(component, args, layer.name_span, partial=True)
        if bound is None or inp[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inp = self._adapt(component, inp, layer, ctx)
        if inp[1] is _UNKNOWN:
            return inp
        return self._infer_node(component, bound, inp[0], inp[1], layer.span, self._text(layer, ctx), ctx)

    def _missing_arrow(self, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], ctx: _Ctx) -> bool:
        """``dropout 0.2 dense 10``: a layer name among another layer's arguments, which no
        parameter of that layer takes, is a missing ``->`` (one error, not one per argument)."""
        positional = [p for p in component.params if p.positional]
        binder = self.binder(ctx)
        for arg in args:
            value = arg.value
            if arg.key is not None or not isinstance(value, ir.Name) or arg.span is None:
                continue
            if self.registry.get("layer", value.value) is None and value.value not in self.blocks:
                continue
            if any(p.type.claims(value.value, binder) for p in positional):
                continue
            self.error(NetdslSyntaxError(
                f"`{value.value}` starts another layer, but nothing joins it to `{layer.name}`",
                value.span, label="a new layer starts here", code="NDL002",
                expected="`->` between layers",
                help=f"write `->` before `{value.value}`"), ctx)
            return True
        return False

    def _body_values(self, layer: ir.Layer, ctx: _Ctx) -> list[ir.Arg]:
        """``dense(64, relu)``: a body that is one bare name is an argument, not a sub-network."""
        out = []
        for chain in layer.body:
            value = _chain_value(chain)
            if value is not None:
                out.append(substitute(ir.Arg(value, span=value.span), ctx.subst))
            else:
                self.error(NetdslSyntaxError(
                    f"`{layer.name}` takes values, not layers", chain.span, label="a sub-network",
                    code="NDL005", help="only wrappers such as `residual(...)` enclose layers"), ctx)
        return out

    def _text(self, layer: ir.Layer, ctx: _Ctx) -> str:
        if ctx.subst:
            layer = dataclasses.replace(layer, args=tuple(substitute(a, ctx.subst) for a in layer.args))
        return format_step(layer)

    def _unknown_layer(self, layer: ir.Layer, ctx: _Ctx) -> None:
        err = unknown_name(self.registry, "layer", layer.name, layer.name_span, extra=list(self.blocks))
        if self.registry.get("activation", layer.name) is not None:
            err.help = f"to apply an activation on its own, write `activation {layer.name}`"
        elif layer.name in TABLE and not layer.call and not layer.body:
            value = " ".join(format_value(a) for a in layer.args) or "..."
            err.help = f"`{layer.name}` is a setting: write `{layer.name}: {value}`"
        self.error(err, ctx)

    # --- implicit adapters --------------------------------------------------------------------
    def _adapters(self, want: str) -> list[tuple[Layer, Any]]:
        return [(e.component, a) for e in self.registry.entries("layer") if isinstance(e.component, Layer)
                for a in e.component.adapters if a.to == want]

    def _adapt(self, component: Layer, inp: _Out, layer: ir.Layer, ctx: _Ctx) -> _Out:
        """Insert the implicit adapter a layer's input needs (declared by the adapter layers),
        or explain why it cannot be fed, with a step that would make it fit."""
        shape, want = inp[1], component.accepts
        if want == "any" or len(shape) == INPUT_KINDS[want][0]:
            return inp
        for adapter_layer, adapter in self._adapters(want):
            args = adapter.args(shape) if adapter.implicit else None
            if args is not None:
                return self._implicit(adapter_layer, dict(args), inp, layer, ctx)
        needs = INPUT_KINDS[want][1]
        hints = [h for h in (self._switch_hint(want, inp[0]), self._adapter_hint(want, shape)) if h]
        self.error(NetdslShapeError(
            f"`{layer.name}` needs {needs}, but its input has shape {format_shape(shape)}",
            layer.name_span, label=f"input is {format_shape(shape)}", code="NDL008",
            help="; or ".join(hints) or None), ctx)
        return inp[0], _UNKNOWN

    def _switch_hint(self, want: str, inputs: tuple[int, ...]) -> str | None:
        """``return_sequences=false``: a true/false argument of the layer before that would make
        its output what this layer needs (found by running its shape rule, not by name)."""
        if len(inputs) != 1 or not 0 <= inputs[0] < len(self.nodes):
            return None
        node = self.nodes[inputs[0]]
        component = node.component
        if component is None or component.wrapper or component.merge or node.implicit:
            return None
        for p in component.params:
            value = node.kwargs.get(p.name)
            if not isinstance(p.type, T.Bool) or not isinstance(value, bool):
                continue
            try:
                out, _ = component.infer(node.input_shape, {**node.kwargs, p.name: not value})
            except Exception:  # noqa: BLE001 - only a working rule gives a hint
                continue
            if len(out) == INPUT_KINDS[want][0]:
                return f"set `{p.name}={str(not value).lower()}` on `{node.layer}`"
        return None

    def _adapter_hint(self, want: str, shape: Shape) -> str | None:
        """Steps the user can write to turn ``shape`` into ``want``, each checked to work."""
        steps: list[str] = []
        for adapter_layer, adapter in self._adapters(want):
            args = adapter.args(shape)
            if args is None:
                continue
            full = {p.name: p.default for p in adapter_layer.params}
            full.update(args)
            try:
                out, _ = adapter_layer.infer(shape, full)
            except ShapeProblem:
                continue
            written = ir.Layer(adapter_layer.name, tuple(ir.Arg(value_to_ir(v)) for v in args.values()))
            step = f"`{format_step(written)}`"
            if len(out) == INPUT_KINDS[want][0] and step not in steps:
                steps.append(step)
        if not steps:
            return None
        return f"add {' or '.join(steps[:3])} before it"

    def _implicit(self, component: Layer, args: dict[str, Any], inp: _Out, layer: ir.Layer,
                  ctx: _Ctx) -> _Out:
        full = {p.name: p.default for p in component.params}
        full.update(args)
        shape, params = component.infer(inp[1], full)
        written = ir.Layer(component.name, tuple(ir.Arg(value_to_ir(v)) for v in args.values()))
        text = f"{format_step(written)} (implicit)"
        return self._add(component, full, inp[0], inp[1], shape, params, layer.name_span, text, ctx,
                         implicit=True)

    # --- nodes --------------------------------------------------------------------------------
    def _infer_node(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...],
                    shape: Any, span: Span | None, text: str, ctx: _Ctx, *,
                    merge_args: bool = False, inner_node: Node | None = None, **extra: Any) -> _Out:
        try:
            out, params = component.infer(shape, bound, **extra)
        except ShapeProblem as p:
            where = span
            source = getattr(bound, "sources", {}).get(p.param) if p.param else None
            if source is not None and source.span is not None:
                where = source.span
            self.error(NetdslShapeError(
                f"`{component.name}` cannot take its input: {p.message}", where,
                label=f"input is {format_shape(shape) if not merge_args else ', '.join(map(format_shape, shape))}",
                code="NDL008", help=p.help), ctx)
            return inputs, _UNKNOWN
        except Exception as exc:  # noqa: BLE001 - a plugin's shape rule must not crash `check`
            self._plugin_rule_failed(component, f"raised {type(exc).__name__}: {exc}", span, ctx)
            return inputs, _UNKNOWN
        if not _is_shape(out) or not isinstance(params, int) or isinstance(params, bool) or params < 0:
            self._plugin_rule_failed(component, f"returned {(out, params)!r}, not (shape, parameter count)",
                                     span, ctx)
            return inputs, _UNKNOWN
        return self._add(component, bound, inputs, shape, tuple(out), params, span, text, ctx,
                         inner=inner_node)

    def _plugin_rule_failed(self, component: Layer, what: str, span: Span | None, ctx: _Ctx) -> None:
        from .errors import NetdslPluginError

        entry = self.registry.entry("layer", component.name)
        self.error(NetdslPluginError(
            f"the shape rule of `{component.name}` ({entry.provider if entry else '?'}) {what}", span,
            label="plugin error", code="NDL206",
            help="this is a bug in the plugin that provides the layer; report it there"), ctx)

    def _add(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...], in_shape: Any,
             out: Shape, params: int, span: Span | None, text: str, ctx: _Ctx, *,
             implicit: bool = False, inner: Node | None = None) -> _Out:
        entry = self.registry.entry("layer", component.name)
        node = Node(len(self.nodes), component.name, tuple(bound.items()), tuple(inputs), in_shape,
                    out, params, text, span, implicit, ctx.depth, inner, component,
                    str(entry.provider) if entry else "")
        self.nodes.append(node)
        return (node.index,), out

    # --- blocks and wrappers ------------------------------------------------------------------
    def _use_block(self, layer: ir.Layer, inp: _Out, ctx: _Ctx) -> _Out:
        block = self.blocks[layer.name]
        if layer.name in ctx.blocks or len(ctx.blocks) >= MAX_BLOCK_DEPTH:
            recursive = layer.name in ctx.blocks
            self.error(NetdslNameError(
                f"block `{layer.name}` uses itself" if recursive
                else f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels",
                layer.name_span, label="recursive use" if recursive else "too deeply nested",
                code="NDL011" if recursive else "NDL012",
                notes=_note(block.name_span, "defined here")), ctx)
            return inp[0], _UNKNOWN
        args = [substitute(a, ctx.subst) for a in (*layer.args, *self._body_values(layer, ctx))]
        defined = _note(block.name_span, "defined here")
        bound = Binder(self.registry, (*defined, *ctx.notes))
        bound.errors = self.errors
        subst = bound.bind(_block_component(block), args, layer.span, by_position=True)
        if subst is None:
            return inp[0], _UNKNOWN
        use = Note(layer.span, f"in this use of `{block.name}`") if layer.span else None
        inner = _Ctx(dict(subst), (*([use] if use else []), *ctx.notes), (*ctx.blocks, block.name), ctx.depth)
        return self._chain(block.body, inp, inner)

    def _single_body(self, layer: ir.Layer, ctx: _Ctx) -> ir.Chain | None:
        if len(layer.body) != 1:
            self.error(NetdslSyntaxError(
                f"`{layer.name}` wraps one sub-network: `{layer.name}(a -> b)`", layer.span,
                label=f"{len(layer.body)} given", code="NDL005"), ctx)
            return None
        return layer.body[0]

    def _wrap_chain(self, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], inp: _Out,
                    ctx: _Ctx) -> _Out:
        body = self._single_body(layer, ctx)
        bound = self.binder(ctx).bind(component, args, layer.name_span)
        if body is None:
            return inp[0], _UNKNOWN
        out = self._chain(body, inp, dataclasses.replace(ctx, depth=ctx.depth + 1))
        if bound is None or inp[1] is _UNKNOWN or out[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inputs = (inp[0][0] if inp[0] else -1, out[0][0] if out[0] else -1)
        return self._infer_node(component, bound, inputs, [inp[1], out[1]], layer.name_span,
                                f"{layer.name} (adds its input)", ctx, merge_args=True)

    def _wrap_layer(self, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], inp: _Out,
                    ctx: _Ctx) -> _Out:
        body = self._single_body(layer, ctx)
        bound = self.binder(ctx).bind(component, args, layer.name_span)
        if body is None:
            return inp[0], _UNKNOWN
        step = body.steps[0]
        inner_c = self.registry.get("layer", step.name) if isinstance(step, ir.Layer) else None
        if (len(body.steps) != 1 or not isinstance(step, ir.Layer) or not isinstance(inner_c, Layer)
                or inner_c.wrapper):
            if isinstance(step, ir.Layer) and inner_c is None and len(body.steps) == 1:
                self._unknown_layer(step, ctx)
            else:
                self.error(NetdslSyntaxError(
                    f"`{layer.name}` wraps exactly one layer, e.g. `{layer.name}(lstm 64)`", body.span,
                    label="not one layer", code="NDL005"), ctx)
            return inp[0], _UNKNOWN
        inner_args = tuple(substitute(a, ctx.subst) for a in step.args)
        inner_bound = self.binder(ctx).bind(inner_c, inner_args, step.name_span)
        if bound is None or inner_bound is None or inp[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inp = self._adapt(component, inp, layer, ctx)
        if inp[1] is _UNKNOWN:
            return inp
        entry = self.registry.entry("layer", inner_c.name)
        inner_node = Node(-1, inner_c.name, tuple(inner_bound.items()), (), None, (), 0,
                          self._text(step, ctx), step.span, component=inner_c,
                          provider=str(entry.provider) if entry else "")
        layer_c: Layer = inner_c

        def inner(shape: Shape) -> tuple[Shape, int]:
            return layer_c.infer(shape, inner_bound)

        return self._infer_node(component, bound, inp[0], inp[1], layer.span, self._text(layer, ctx),
                                ctx, inner=inner, inner_layer=inner_c, inner_node=inner_node)


def _note(span: Span | None, label: str) -> list[Note]:
    return [Note(span, label)] if span is not None else []


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _same_size(a: Sequence[int], b: Sequence[int]) -> bool:
    return -1 not in a and _size(a) == _size(b)


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value)
