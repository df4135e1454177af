"""Check: resolve names against the registry, bind arguments, infer shapes and parameter counts.

Everything here is pure Python (no TensorFlow). ``check`` reports every error it can find in
one pass; on success it returns a :class:`CheckedModel`: the network as a graph of
:class:`Node` in topological order plus the resolved training settings.
"""

from __future__ import annotations

import dataclasses
import gc
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from . import ir
from . import types as T
from .bind import Binder, substitute, unknown_name
from .components import Dataset, Layer, Param, Ref, ShapeProblem, to_json
from .errors import (NetdslError, NetdslErrors, NetdslNameError, NetdslSettingError,
                     NetdslShapeError, NetdslSyntaxError, Note, Span)
from .formatter import format_step, format_value
from .parser import parse
from .registry import Registry, default_registry, suggest

__all__ = ["check", "CheckedModel", "Node", "SETTINGS", "format_shape", "MAX_BLOCK_DEPTH", "MAX_LAYERS",
           "MAX_NESTING"]

#: how deep block uses may nest (a block using a block using a block ...)
MAX_BLOCK_DEPTH = 50
#: how deep the walk may go through brackets and block uses together
MAX_NESTING = 100
#: the most layers a network may expand to (repetition multiplies; this keeps `* 10**9` from hanging)
MAX_LAYERS = 100_000  # far above real networks; bounds `(a) * 10**20`

SETTINGS: dict[str, Param] = {p.name: p for p in (
    Param("dataset", T.Ref("dataset"), "mnist", help="the data to train and evaluate on"),
    Param("input", T.ShapeT(), None, help="input shape without the batch axis (default: the dataset's)"),
    Param("loss", T.Ref("loss"), None, help="default: categorical_crossentropy for a classifier"),
    Param("optimizer", T.Ref("optimizer"), "adam", help="an optimizer, e.g. adam(learning_rate=1e-3)"),
    Param("metrics", T.ListOf(T.Ref("metric")), ("accuracy",), help="metrics to report"),
    Param("epochs", T.Int(min=1), 10, help="passes over the training data"),
    Param("batch_size", T.Int(min=1), 32, help="examples per training step"),
    Param("validation_split", T.Float(min=0, max=1, max_open=True), 0.0,
          help="fraction of the training data held out for validation"),
    Param("seed", T.Int(min=0), None, help="random seed for a reproducible run"),
)}

Shape = tuple
_UNKNOWN: Any = None  # the shape after an error: later layers are still bound, not inferred


def format_shape(shape: Sequence[Any] | None) -> str:
    """``(None, 784)``-style text the way Keras prints shapes (batch axis first)."""
    if shape is None:
        return "?"
    dims = ", ".join("None" if d is None else str(d) for d in (None, *shape))
    return f"({dims})"


@dataclass(frozen=True)
class Node:
    """One layer in the checked graph. ``inputs`` are node indices; ``()`` is the model input."""

    index: int
    layer: str
    args: tuple[tuple[str, Any], ...]
    inputs: tuple[int, ...]
    input_shape: Any
    output_shape: Shape
    params: int
    text: str
    span: Span | None = field(default=None, compare=False)
    implicit: bool = False
    depth: int = 0
    inner: "Node | None" = None
    component: Layer | None = field(default=None, compare=False, repr=False)

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.args)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "layer": self.layer, "text": self.text,
            "args": {k: to_json(v) for k, v in self.args},
            "inputs": list(self.inputs), "output_shape": list(self.output_shape),
            "params": self.params, "implicit": self.implicit, "depth": self.depth,
            "inner": self.inner.to_dict() if self.inner else None,
            "span": self.span.to_dict() if self.span else None,
        }


@dataclass(frozen=True)
class CheckedModel:
    """A program with every name resolved, every argument bound and every shape known."""

    program: ir.Program
    nodes: tuple[Node, ...]
    input_shape: Shape
    dataset: Ref
    loss: Ref
    optimizer: Ref
    metrics: tuple[Ref, ...]
    epochs: int
    batch_size: int
    validation_split: float
    seed: int | None
    labels: str  # "categorical" (one-hot) or "sparse" (integer)
    num_classes: int
    registry: Registry = field(compare=False, repr=False)

    @property
    def output_shape(self) -> Shape:
        return self.nodes[-1].output_shape if self.nodes else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    def replace(self, **changes: Any) -> "CheckedModel":
        """A copy with some settings changed (the CLI's ``--epochs`` etc.), re-validated."""
        for key, value in changes.items():
            if key in ("epochs", "batch_size") and (not isinstance(value, int) or value < 1):
                raise NetdslSettingError(f"{key} must be an integer >= 1, got {value!r}")
            if key == "seed" and value is not None and (not isinstance(value, int) or value < 0):
                raise NetdslSettingError(f"seed must be an integer >= 0, got {value!r}")
        return dataclasses.replace(self, **changes)

    def settings(self) -> dict[str, Any]:
        return {
            "dataset": to_json(self.dataset), "input": list(self.input_shape),
            "loss": to_json(self.loss), "optimizer": to_json(self.optimizer),
            "metrics": [to_json(m) for m in self.metrics], "epochs": self.epochs,
            "batch_size": self.batch_size, "validation_split": self.validation_split,
            "seed": self.seed, "labels": self.labels,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.program.filename,
            "settings": self.settings(),
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [n.to_dict() for n in self.nodes],
            "total_params": self.total_params,
        }


def check(program_or_text: ir.Program | str | bytes, registry: Registry | None = None, *,
          filename: str | None = None) -> CheckedModel:
    """Check a program (or source text); raise every error found, else return the checked model."""
    program = (program_or_text if isinstance(program_or_text, ir.Program)
               else parse(program_or_text, filename))
    checker = _Checker(program, registry or default_registry())
    gc_was_on = gc.isenabled()
    gc.disable()  # checking makes many small objects and no cycles: collecting is pure cost
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
    finally:
        if gc_was_on:
            gc.enable()
    if checker.errors:
        for group in checker.errors:
            for e in group.errors:
                if e.source is None:
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
    args = (*step.args, *(ir.Arg(v, span=v.span) for v in inner))  # type: ignore[union-attr]
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


class _Checker:
    def __init__(self, program: ir.Program, registry: Registry) -> None:
        self.program = program
        self.registry = registry
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
        settings = self._settings()
        self._blocks()
        dataset = settings.get("dataset")
        ds = self.registry.get("dataset", dataset.name) if isinstance(dataset, Ref) else None
        input_shape = settings.get("input") or (tuple(ds.input_shape) if isinstance(ds, Dataset) else None)
        if self.program.network is None:
            src = self.program.source or ""
            at = len(src) - len(src.lstrip()) if src.strip() else 0
            self.error(NetdslSyntaxError(
                "the program has no network" + (" (the file is empty)" if not src.strip() else ""),
                Span.point(src, at, self.program.filename, width=0),
                label="expected a layer", expected="at least one layer, e.g. `dense 10 softmax`",
                code="NDL010", help="a whole program can be one line: `dense 64 relu -> dense 10 softmax`"))
            return None
        out = self._chain(self.program.network, ((), tuple(input_shape) if input_shape else _UNKNOWN), _Ctx())
        if self.errors:
            return None
        loss, labels = self._loss(settings, ds)
        self._output(out[1], ds, loss)
        if self.errors:
            return None
        return CheckedModel(
            self.program, tuple(self.nodes), tuple(input_shape), dataset, loss,
            settings["optimizer"], tuple(settings["metrics"]), settings["epochs"],
            settings["batch_size"], settings["validation_split"], settings["seed"], labels,
            ds.num_classes if isinstance(ds, Dataset) else 0, self.registry)

    def _settings(self) -> dict[str, Any]:
        seen: dict[str, ir.Setting] = {}
        binder = self.binder(_Ctx())
        values: dict[str, Any] = {}
        for s in self.program.settings:
            param = SETTINGS.get(s.key)
            if param is None:
                close = suggest(s.key, SETTINGS)
                self.error(NetdslSettingError(
                    f"unknown setting `{s.key}`", s.key_span, label="not a setting", code="NDL004",
                    expected=", ".join(f"`{k}`" for k in SETTINGS),
                    help=f"did you mean `{close}`?" if close else None))
                continue
            if s.key in seen:
                self.error(NetdslSettingError(
                    f"`{s.key}` is set twice", s.key_span, label="second setting", code="NDL004",
                    help=f"keep one `{s.key}:` line",
                    notes=[Note(seen[s.key].key_span, "first set here")]))  # type: ignore[arg-type]
                continue
            seen[s.key] = s
            try:
                values[s.key] = param.type.convert(s.value, binder)
            except T.Problem as p:
                node = p.node if p.node is not None and getattr(p.node, "span", None) else s.value
                self.error(NetdslSettingError(
                    f"bad `{s.key}`: {p.message}", node.span, label=f"expected {p.expected}",  # type: ignore[union-attr]
                    code="NDL005", help=p.help))
            except NetdslError as e:
                self.error(e)
        for key, param in SETTINGS.items():
            if key in values or key in seen:
                continue
            default = param.default
            if isinstance(param.type, (T.Ref, T.ListOf)) and default is not None:
                names = default if isinstance(default, tuple) else (default,)
                try:
                    refs = [binder.bind_ref(getattr(param.type, "kind", None) or param.type.item.kind,  # type: ignore[attr-defined]
                                            ir.Name(n)) for n in names]
                except NetdslError as e:
                    self.error(NetdslSettingError(f"the default {key} is not available: {e.message}",
                                                  help="set it explicitly or install its plugin"))
                    continue
                values[key] = refs if isinstance(default, tuple) else refs[0]
            else:
                values[key] = default
        return values

    def _blocks(self) -> None:
        for b in self.program.blocks:
            if b.name in self.blocks:
                self.error(NetdslNameError(
                    f"block `{b.name}` is defined twice", b.name_span, label="second definition",
                    code="NDL011", notes=[Note(self.blocks[b.name].name_span, "first defined here")]))  # type: ignore[arg-type]
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
        merge_name = br.merge or "concat"
        merge = self.registry.get("layer", merge_name)
        if merge is None or not merge.merge:
            candidates = [e.component.name for e in self.registry.entries("layer") if e.component.merge]
            close = suggest(merge_name, candidates)
            self.error(NetdslNameError(
                f"`{merge_name}` cannot merge branches", br.merge_span or br.span,
                label="not a merge layer", code="NDL003",
                expected=", ".join(f"`{c}`" for c in candidates) or "a merge layer",
                help=f"did you mean `{close}`?" if close else None), ctx)
            return (), _UNKNOWN
        shapes = [o[1] for o in outs]
        inputs = tuple(o[0][0] if o[0] else -1 for o in outs)
        args = self._bind_plain(merge, (), br.merge_span, ctx) or {}
        if any(s is _UNKNOWN for s in shapes):
            return (), _UNKNOWN
        return self._infer_node(merge, args, inputs, shapes, br.merge_span or br.span,
                                f"{merge_name} ({len(outs)} branches)", ctx, merge_args=True)

    def _layer(self, layer: ir.Layer, inp: _Out, ctx: _Ctx) -> _Out:
        if layer.name in self.blocks:
            return self._use_block(layer, inp, ctx)
        if layer.name in self.broken:
            return inp[0], _UNKNOWN  # its definition is already reported
        component = self.registry.get("layer", layer.name)
        if component is None:
            self._unknown_layer(layer, ctx)
            return inp[0], _UNKNOWN
        assert isinstance(component, Layer)
        args = tuple(substitute(a, ctx.subst) for a in layer.args)
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
        bound = self._bind_plain(component, args, layer.name_span, ctx)
        if bound is None or inp[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inp = self._adapt(component, inp, layer, ctx)
        if inp[1] is _UNKNOWN:
            return inp
        return self._infer_node(component, bound, inp[0], inp[1], layer.span,
                                self._text(layer, ctx), ctx, args_ir=args)

    def _bind_plain(self, component: Layer, args: Sequence[ir.Arg], span: Span | None,
                    ctx: _Ctx) -> dict[str, Any] | None:
        return self.binder(ctx).bind(component, args, span)

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
        elif layer.name in SETTINGS and not layer.call and not layer.body:
            value = " ".join(format_value(a) for a in layer.args) or "..."
            err.help = f"`{layer.name}` is a setting: write `{layer.name}: {value}`"
        self.error(err, ctx)

    def _adapt(self, component: Layer, inp: _Out, layer: ir.Layer, ctx: _Ctx) -> _Out:
        """Insert the implicit flatten/reshape a layer needs, or explain why it cannot be fed."""
        shape = inp[1]
        want = component.accepts
        rank = len(shape)
        if want == "any" or (want, rank) in (("vector", 1), ("sequence", 2), ("image", 3)):
            return inp
        if want == "vector" and rank >= 3:
            return self._implicit("flatten", {}, inp, layer, ctx)
        if want == "sequence" and rank == 3 and shape[-1] == 1:
            return self._implicit("reshape", {"target_shape": tuple(shape[:2])}, inp, layer, ctx)
        if want == "image" and rank == 2:
            return self._implicit("reshape", {"target_shape": (*shape, 1)}, inp, layer, ctx)
        needs = {"vector": "a vector (rank 1)", "sequence": "a sequence (steps x features)",
                 "image": "an image (height x width x channels)"}[want]
        hint = {
            "vector": "end the sequence first: `return_sequences=false` on the recurrent layer, "
                      "`global_avgpool1d`, or `flatten`",
            "sequence": "a sequence layer reads steps x features; reshape first, e.g. `reshape 28x28`",
            "image": "reshape to height x width x channels first, e.g. `reshape 28x28x1`",
        }[want]
        self.error(NetdslShapeError(
            f"`{layer.name}` needs {needs}, but its input has shape {format_shape(shape)}",
            layer.name_span, label=f"input is {format_shape(shape)}", code="NDL008", help=hint), ctx)
        return inp[0], _UNKNOWN

    def _implicit(self, name: str, args: dict[str, Any], inp: _Out, layer: ir.Layer, ctx: _Ctx) -> _Out:
        component = self.registry.get("layer", name)
        assert isinstance(component, Layer)
        full = {p.name: p.default for p in component.params}
        full.update(args)
        shape, params = component.infer(inp[1], full)
        text = f"{name} (implicit)" if not args else f"{name} {'x'.join(map(str, args['target_shape']))} (implicit)"
        return self._add(component, full, inp[0], inp[1], shape, params, layer.name_span, text, ctx,
                         implicit=True)

    def _infer_node(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...],
                    shape: Any, span: Span | None, text: str, ctx: _Ctx, *, args_ir: Sequence[ir.Arg] = (),
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
        return self._add(component, bound, inputs, shape, tuple(out), params, span, text, ctx,
                         inner=inner_node)

    def _add(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...], in_shape: Any,
             out: Shape, params: int, span: Span | None, text: str, ctx: _Ctx, *,
             implicit: bool = False, inner: Node | None = None) -> _Out:
        node = Node(len(self.nodes), component.name, tuple(bound.items()), tuple(inputs), in_shape,
                    out, params, text, span, implicit, ctx.depth, inner, component)
        self.nodes.append(node)
        return (node.index,), out

    # --- blocks and wrappers ------------------------------------------------------------------
    def _use_block(self, layer: ir.Layer, inp: _Out, ctx: _Ctx) -> _Out:
        block = self.blocks[layer.name]
        if layer.name in ctx.blocks or len(ctx.blocks) >= MAX_BLOCK_DEPTH:
            self.error(NetdslNameError(
                f"block `{layer.name}` uses itself" if layer.name in ctx.blocks
                else f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels",
                layer.name_span, label="recursive use" if layer.name in ctx.blocks else "too deeply nested",
                code="NDL011" if layer.name in ctx.blocks else "NDL012",
                notes=[Note(block.name_span, "defined here")]), ctx)  # type: ignore[arg-type]
            return inp[0], _UNKNOWN
        args = [substitute(a, ctx.subst) for a in (*layer.args, *self._body_values(layer, ctx))]
        subst: dict[str, ir.Value] = {}
        positional = [a for a in args if a.key is None]
        ok = True
        for name, arg in zip(block.params, positional):
            subst[name] = arg.value
        for arg in positional[len(block.params):]:
            ok = False
            self.error(NetdslNameError(
                f"block `{block.name}` takes {len(block.params)} argument{'s' * (len(block.params) != 1)}",
                arg.span, label="one too many", code="NDL005",
                notes=[Note(block.name_span, "defined here")]), ctx)  # type: ignore[arg-type]
        for arg in args:
            if arg.key is None:
                continue
            if arg.key not in block.params:
                close = suggest(arg.key, block.params)
                self.error(NetdslNameError(
                    f"block `{block.name}` has no parameter `{arg.key}`", arg.key_span,
                    label="unknown parameter", code="NDL007",
                    help=f"did you mean `{close}`?" if close else None), ctx)
                ok = False
            elif arg.key in subst:
                self.error(NetdslNameError(f"block `{block.name}` gets `{arg.key}` twice", arg.span,
                                           label=f"second `{arg.key}`", code="NDL006",
                                           help=f"give `{arg.key}` once"), ctx)
                ok = False
            else:
                subst[arg.key] = arg.value
        missing = [p for p in block.params if p not in subst]
        if missing:
            self.error(NetdslNameError(
                f"block `{block.name}` needs `{missing[0]}`", layer.span, label=f"missing `{missing[0]}`",
                code="NDL007", notes=[Note(block.name_span, "defined here")]), ctx)  # type: ignore[arg-type]
            ok = False
        if not ok:
            return inp[0], _UNKNOWN
        use = Note(layer.span, f"in this use of `{block.name}`")  # type: ignore[arg-type]
        inner = _Ctx(subst, (use, *ctx.notes), (*ctx.blocks, block.name), ctx.depth)
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
        bound = self._bind_plain(component, args, layer.name_span, ctx)
        if body is None:
            return inp[0], _UNKNOWN
        out = self._chain(body, inp, dataclasses.replace(ctx, depth=ctx.depth + 1))
        if bound is None or inp[1] is _UNKNOWN or out[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inputs = (inp[0][0] if inp[0] else -1, out[0][0] if out[0] else -1)
        return self._infer_node(component, bound, inputs, [inp[1], out[1]], layer.name_span,
                                f"{layer.name} (adds its input)", ctx, args_ir=args, merge_args=True)

    def _wrap_layer(self, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], inp: _Out,
                    ctx: _Ctx) -> _Out:
        body = self._single_body(layer, ctx)
        bound = self._bind_plain(component, args, layer.name_span, ctx)
        if body is None:
            return inp[0], _UNKNOWN
        step = body.steps[0]
        inner_c = self.registry.get("layer", step.name) if isinstance(step, ir.Layer) else None
        if len(body.steps) != 1 or not isinstance(step, ir.Layer) or not isinstance(inner_c, Layer) or inner_c.wrapper:
            if isinstance(step, ir.Layer) and inner_c is None and len(body.steps) == 1:
                self._unknown_layer(step, ctx)
            else:
                self.error(NetdslSyntaxError(
                    f"`{layer.name}` wraps exactly one layer, e.g. `{layer.name}(lstm 64)`", body.span,
                    label="not one layer", code="NDL005"), ctx)
            return inp[0], _UNKNOWN
        inner_args = tuple(substitute(a, ctx.subst) for a in step.args)
        inner_bound = self._bind_plain(inner_c, inner_args, step.name_span, ctx)
        if bound is None or inner_bound is None or inp[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inp = self._adapt(component, inp, layer, ctx)
        if inp[1] is _UNKNOWN:
            return inp
        inner_node = Node(-1, inner_c.name, tuple(inner_bound.items()), (), None, (), 0,
                          self._text(step, ctx), step.span, component=inner_c)

        def inner(shape: Shape) -> tuple[Shape, int]:
            return inner_c.infer(shape, inner_bound)

        return self._infer_node(component, bound, inp[0], inp[1], layer.span, self._text(layer, ctx),
                                ctx, args_ir=args, inner=inner, inner_layer=inner_c, inner_node=inner_node)

    # --- the end of the network ---------------------------------------------------------------
    def _loss(self, settings: Mapping[str, Any], ds: Any) -> tuple[Ref, str]:
        loss: Ref | None = settings.get("loss")
        if loss is None:
            component = self.registry.get("loss", "categorical_crossentropy")
            args: dict[str, Any] = {p.name: p.default for p in component.params} if component else {}
            if "from_logits" in args and self._final_activation() in (None, "linear"):
                args["from_logits"] = True
            loss = Ref("loss", "categorical_crossentropy", tuple(args.items()))
        component = self.registry.get("loss", loss.name)
        labels = getattr(component, "labels", "any")
        return loss, "sparse" if labels == "sparse" else "categorical"

    def _final_activation(self) -> str | None:
        for node in reversed(self.nodes):
            act = node.kwargs.get("activation")
            if isinstance(act, (Ref, str)):
                return act.name if isinstance(act, Ref) else act
            if node.layer not in ("dropout", "flatten", "reshape"):
                return None
        return None

    def _output(self, shape: Any, ds: Any, loss: Ref) -> None:
        if not isinstance(ds, Dataset) or ds.num_classes <= 0 or shape is _UNKNOWN or not self.nodes:
            return
        last = self.nodes[-1]
        n = ds.num_classes
        if tuple(shape) != (n,):
            units = f"`{last.layer}` gives {format_shape(shape)}"
            self.error(NetdslShapeError(
                f"the network must end with one score per class of `{ds.name}`: "
                f"{format_shape((n,))}, but {units}",
                last.span, label=f"output {format_shape(shape)}", code="NDL013",
                help=f"end with `dense {n} softmax`"))

