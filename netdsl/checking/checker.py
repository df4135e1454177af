"""Check: resolve names against the registry, bind arguments, infer shapes and parameter counts.

Everything here is pure Python (no TensorFlow). ``check`` reports every error it can find in
one pass; on success it returns a :class:`~netdsl.checking.graph.CheckedModel`. The stages, in order:
the settings (read by the table in :mod:`netdsl.vocab.settings`), the dataset's answers (its
``describe``, never its data), the shape walk over the network (blocks, repetition, branches,
wrappers and implicit adapters, all declared by components), and the training target (the loss,
metrics and output the dataset's target calls for, in :mod:`netdsl.checking.target`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import (
    NetdslArgumentError,
    NetdslError,
    NetdslErrors,
    NetdslLimitError,
    NetdslNameError,
    NetdslSettingError,
    NetdslShapeError,
    NetdslSyntaxError,
    Note,
    Span,
)
from ..lang import ir
from ..lang.formatter import format_step, format_value
from ..lang.hints import missing_arrow
from ..lang.parser import parse
from ..vocab import types as T
from ..vocab.components import (
    INPUT_KINDS,
    KINDS,
    Component,
    DataInfo,
    DataRequest,
    Dataset,
    Layer,
    Param,
    Ref,
    ShapeProblem,
    Target,
)
from ..vocab.registry import Registry, default_registry, suggest
from ..vocab.settings import SETTINGS, TABLE, Settings, value_to_ir
from .backends import problems as backend_problems
from .bind import Binder, Placeholder, substitute, unknown_name
from .graph import CheckedModel, Node, Shape, format_shape
from .target import check_monitors, check_optimizer, training_target

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

#: how deep block uses may nest (a block using a block using a block ...)
MAX_BLOCK_DEPTH = 50
#: how deep the walk may go through brackets and block uses together
MAX_NESTING = 100
#: the most parameters a layer or a network may have (8 GB of float32 weights): more is a typo
MAX_PARAMS = 2**31 - 1
#: the most values one layer may output per example (TensorFlow's tensors index them with int32)
MAX_VALUES = 2**31 - 1
#: the most layers a network may expand to (repetition multiplies; this keeps `* 10**9` from hanging)
MAX_LAYERS = 100_000  # far above real networks; bounds `(a) * 10**20`

_UNKNOWN: Any = None  # the shape after an error: later layers are still bound, not inferred
_NO_ARGS: Mapping[str, ir.Value] = MappingProxyType({})  # the block parameters of a use without any


def check(program_or_text: ir.Program | str | bytes, registry: Registry | None = None, *,
          filename: str | None = None, data: str | os.PathLike[str] | None = None) -> CheckedModel:
    """Check a program (or source text); raise every error found, else return the checked model.

    ``data`` is the file or folder the user pointed the program's dataset at (``--data``); the
    dataset reads only its metadata here.
    """
    program = (program_or_text if isinstance(program_or_text, ir.Program)
               else parse(program_or_text, filename, setting_names=TABLE))
    checker = _Checker(program, registry or default_registry(),
                       os.fspath(data) if data is not None else None)
    try:
        model = checker.run()
    except RecursionError:  # a safety net: MAX_NESTING should stop every walk long before
        net = program.network
        err = NetdslLimitError(
            "the network nests too deeply to check", net.span if net else None,
            label="too deeply nested", code="NDL012",
            help="use blocks and brackets less deeply")
        err.source = program.source
        raise err from None
    if checker.errors:
        error = _error_of(checker.errors, program)
        del checker  # the error's traceback keeps this frame: it must not lead back to the
        try:  # error, or the whole checked graph becomes a reference cycle
            raise error
        finally:
            del error
    assert model is not None
    return model


def _error_of(errors: list[NetdslError], program: ir.Program) -> NetdslError:
    """The one error to raise for ``errors`` (duplicates merged), each knowing its source."""
    for group in errors:
        for e in group.errors:
            if e.source is None and (e.span is None or e.span.file == program.filename):
                e.source = program.source
    merged = _merge_duplicates(errors)
    return merged[0] if len(merged) == 1 else NetdslErrors(merged)


def expanded_layers(program: ir.Program, registry: Registry | None = None) -> int:
    """How many layers ``program``'s network expands to (blocks, repetition, branches), worked
    out by arithmetic without expanding it; capped at MAX_LAYERS + 1 (what ``check`` refuses).
    Implicit adapter layers are not counted. For the cost figures of bench/fuzz.py."""
    if program.network is None:
        return 0
    checker = _Checker(program, registry or default_registry(), None)
    checker.blocks = {b.name: b for b in program.blocks}
    return checker._size_chain(program.network)


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


class _BoundStep:
    """A layer step bound once for its block arguments; its shape rule's answers by input shape."""

    __slots__ = ("bound", "component", "items", "layer", "shapes", "subst", "text")

    def __init__(self, layer: ir.Layer, subst: Mapping[str, ir.Value], component: Layer,
                 bound: Mapping[str, Any]) -> None:
        self.layer, self.subst, self.component, self.bound = layer, subst, component, bound
        self.text: str | None = None
        self.items = tuple(bound.items())
        self.shapes: dict[Any, tuple[Shape, int]] = {}


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
        #: walk without expanding: repetitions once, block uses bound but not entered (used when
        #: the network expands past MAX_LAYERS, and for blocks no use reached)
        self.shallow = False
        self.walked: set[str] = set()  # blocks whose body the walk entered
        self._sizes: dict[str, int] = {}
        self.info: DataInfo | None = None  # what the dataset said (its vocabulary, for `reads_ids`)
        self._known_words: frozenset[str] | None = None
        self._bound: dict[tuple[int, int], _BoundStep] = {}  # (layer, block arguments) -> bound once
        self._providers: dict[str, str] = {}  # block name -> expanded layer count (capped)
        self._refs: dict[tuple[str, str], Ref] = {}  # `relu` bound once per check (see Binder.refs)

    def binder(self, ctx: _Ctx) -> Binder:
        b = Binder(self.registry, ctx.notes)
        b.errors = self.errors
        b.refs = self._refs
        return b

    def error(self, err: NetdslError, ctx: _Ctx | None = None) -> None:
        err.__traceback__ = None  # a caught error is kept: its frames would hold this checker (a cycle)
        if ctx is not None and ctx.notes:
            err.notes = err.notes + ctx.notes
        self.errors.append(err)

    # --- the whole program --------------------------------------------------------------------
    def run(self) -> CheckedModel | None:
        values = self._settings()
        self._blocks()
        info = self.info = self._describe(values.get("dataset"), values.get("input"))
        input_shape = values.get("input") or (info.input_shape if info else None)
        if info is not None and values.get("input") and not _same_size(values["input"], info.input_shape):
            where = self.program.setting("input")
            self.error(NetdslArgumentError(
                f"`input: {'x'.join(map(str, values['input']))}` does not fit `{values['dataset'].name}`, "
                f"whose examples are {'x'.join(map(str, info.input_shape))}",
                where.value.span if where else None, label="not the dataset's size", code="NDL005",
                help=f"remove the line, or give a shape of {_size(info.input_shape):,} values"))
        if info is not None:
            self._check_split(values.get("validation_split"), info)
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
        if self._size_chain(self.program.network) > MAX_LAYERS:
            self._too_many(self.program.network, ())
            self.shallow = True  # still check every name and argument, once each
            start = ((), _UNKNOWN)
        out = self._chain(self.program.network, start, _Ctx())
        self._unused_blocks()
        if info is None or "dataset" not in values:
            return None
        target = training_target(values, info, self.nodes, out[1], self.registry, self.binder(_Ctx()),
                                 self.program)
        self.errors.extend(target.errors)
        self.errors.extend(check_monitors({**values, "metrics": target.metrics}, self.program))
        self.errors.extend(check_optimizer(values, self.nodes, self.program))
        total = sum(n.params for n in self.nodes)
        if total > MAX_PARAMS:
            self.error(NetdslLimitError(
                f"the network has {total:,} parameters ({total * 4 / 2**30:,.0f} GB of weights), more "
                f"than netdsl builds ({MAX_PARAMS:,})", self.program.network.span, label="too large",
                code="NDL012", help="use fewer or smaller layers"))
        if self.errors:
            return None
        values.update(input=tuple(input_shape or ()), loss=target.loss, metrics=target.metrics)
        model = CheckedModel(self.program, tuple(self.nodes), Settings(values), info, target.labels)
        if values.get("backend"):  # `backend: jax` in the program: every component must run there
            self.errors.extend(backend_problems(model, values["backend"]))
        return None if self.errors else model

    def _settings(self) -> dict[str, Any]:
        seen: dict[str, ir.Setting] = {}
        again: dict[str, list[ir.Setting]] = {}  # settings given more than once: one error each
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
                again.setdefault(s.key, []).append(s)
                continue
            seen[s.key] = s
            try:
                values[s.key] = row.type.convert(s.value, binder)
            except T.Problem as p:
                node = p.node if p.node is not None and getattr(p.node, "span", None) else s.value
                self.error(NetdslArgumentError(
                    f"bad `{s.key}`: {p.message}", getattr(node, "span", None),
                    label=f"expected {p.expected}", code="NDL005", help=p.help))
            except NetdslError as e:
                self.error(e)
        for key, extra in again.items():
            times = len(extra) + 1
            self.error(NetdslSettingError(
                f"`{key}` is set twice" if times == 2 else f"`{key}` is set {times:,} times",
                extra[0].key_span, label="second setting", code="NDL004",
                help=f"keep one `{key}:` line",
                notes=_note(seen[key].key_span, "first set here")))
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

    def _check_split(self, split: Any, info: DataInfo) -> None:
        """Keras refuses a validation split that leaves no example on one side (it floors)."""
        n = info.train_size
        if not split or not n:
            return
        keep = math.floor(n * (1.0 - split))
        if 0 < keep < n:
            return
        where = self.program.setting("validation_split")
        side = "training" if keep == 0 else "validation"
        self.error(NetdslArgumentError(
            f"`validation_split: {split:g}` of the {n:,} training examples leaves none for {side}",
            where.value.span if where else None, label=f"no {side} examples", code="NDL005",
            help="use a split that keeps at least one example on each side"
                 + (f", e.g. {max(1, n // 5) / n:.2g}" if n > 1 else "")))

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
        who = dataset.provider or "unknown plugin"
        try:
            info = component.describe(request)
        except NetdslError as e:
            if e.span is None and where is not None:
                e.span = where.value.span
            self.error(e)
            return None
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's bug is reported, never a traceback
            from ..errors import NetdslPluginError

            self.error(NetdslPluginError(
                f"dataset `{component.name}` ({who}) failed to describe its data: "
                f"{type(exc).__name__}: {exc}", where.value.span if where else None, code="NDL205"))
            return None
        if (not isinstance(info, DataInfo) or not isinstance(info.input_shape, tuple) or not info.input_shape
                or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                           for d in info.input_shape)
                or not isinstance(info.target, Target)):
            from ..errors import NetdslPluginError

            self.error(NetdslPluginError(
                f"dataset `{component.name}` ({who}) answered {info!r}, not a DataInfo with an input "
                "shape of positive sizes and a Target", where.value.span if where else None,
                code="NDL205", help="this is a bug in the plugin that provides the dataset; report it there"))
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
                self.error(NetdslLimitError(
                    f"brackets and block uses nest more than {MAX_NESTING} levels deep", chain.span,
                    label="too deeply nested", code="NDL012",
                    help="use blocks and brackets less deeply"), ctx)
            return inp[0], _UNKNOWN
        self.nesting += 1
        try:
            for step in chain.steps:
                if self._too_big(step.span, "one layer too many", ctx):
                    return inp[0], _UNKNOWN
                inp = _STEPS[type(step)](self, step, inp, ctx)
            return inp
        finally:
            self.nesting -= 1

    # --- expansion size, worked out before anything is expanded ----------------------------------
    def _size_chain(self, chain: ir.Chain) -> int:
        """How many layers ``chain`` expands to (blocks, repetition, branches, wrapped bodies),
        by arithmetic over the text: capped just past MAX_LAYERS, memoised per block."""
        total = 0
        for step in chain.steps:
            total += self._size_step(step)
            if total > MAX_LAYERS:
                return MAX_LAYERS + 1
        return total

    def _size_step(self, step: ir.Step) -> int:
        if isinstance(step, ir.Repeat):
            return min(max(step.times, 1) * self._size_chain(step.chain), MAX_LAYERS + 1)
        if isinstance(step, ir.Branches):
            return min(1 + sum(self._size_chain(c) for c in step.chains), MAX_LAYERS + 1)
        if step.name in self.blocks:
            return self._size_block(step.name)
        return min(1 + sum(self._size_chain(c) for c in step.body), MAX_LAYERS + 1)

    def _size_block(self, name: str) -> int:
        size = self._sizes.get(name)
        if size is None:
            self._sizes[name] = 1  # a recursive use counts once here (the walk reports it)
            size = self._sizes[name] = self._size_chain(self.blocks[name].body)
        return size

    def _too_many(self, chain: ir.Chain, notes: tuple[Note, ...]) -> None:
        """Report the step where ``chain`` passes MAX_LAYERS, going into the repetition, block or
        branch that alone is too big, so the caret is on what to change."""
        total = 0
        for step in chain.steps:
            size = self._size_step(step)
            if size > MAX_LAYERS:
                if isinstance(step, ir.Repeat):
                    if self._size_chain(step.chain) > MAX_LAYERS:
                        return self._too_many(step.chain, notes)
                    return self._report_too_many(
                        step.times_span or step.span, f"{self._size_chain(step.chain):,} layers "
                        f"{step.times:,} times", notes)
                if isinstance(step, ir.Branches):
                    big = next((c for c in step.chains if self._size_chain(c) > MAX_LAYERS), None)
                    if big is not None:
                        return self._too_many(big, notes)
                    return self._report_too_many(step.merge_span or step.span, "too many layers", notes)
                if step.name in self.blocks:
                    use = _note(step.span, f"in this use of `{step.name}`")
                    return self._too_many(self.blocks[step.name].body, (*use, *notes))
                big = next((c for c in step.body if self._size_chain(c) > MAX_LAYERS), None)
                if big is not None:
                    return self._too_many(big, notes)
            total += size
            if total > MAX_LAYERS:
                label = (f"block `{step.name}` adds {size:,} layers" if isinstance(step, ir.Layer)
                         and step.name in self.blocks else "one step too many")
                return self._report_too_many(step.span, label, notes)
        return None

    def _report_too_many(self, span: Span | None, label: str, notes: tuple[Note, ...]) -> None:
        self.too_big = True
        self.error(NetdslLimitError(
            f"the network expands to more than {MAX_LAYERS:,} layers", span, label=label,
            code="NDL012", help="repeat fewer times, or use blocks less deeply", notes=list(notes)))

    def _unused_blocks(self) -> None:
        """Check every block body the walk did not enter (unused, or not expanded), once, with
        its parameters unknown: names and arguments that do not depend on them."""
        self.shallow = True
        count = len(self.nodes)
        for name, block in self.blocks.items():
            if name in self.walked:
                continue
            self.walked.add(name)
            subst: dict[str, Any] = {p: Placeholder(p) for p in block.params}
            self._chain(block.body, ((), _UNKNOWN), _Ctx(subst, (), (name,), 0))
        del self.nodes[count:]

    def _too_big(self, span: Span | None, label: str, ctx: _Ctx) -> bool:
        """Whether the network has grown past MAX_LAYERS (reported once, where it happened)."""
        if len(self.nodes) <= MAX_LAYERS:
            return False
        if not self.too_big:
            self.too_big = True
            self.error(NetdslLimitError(
                f"the network expands to more than {MAX_LAYERS:,} layers", span, label=label,
                code="NDL012", help="repeat fewer times, or use blocks less deeply"), ctx)
        return True

    def _repeat(self, rep: ir.Repeat, inp: _Out, ctx: _Ctx) -> _Out:
        if rep.times < 1:
            self.error(NetdslArgumentError(f"a group repeats at least once, not {rep.times} times",
                                         rep.times_span, label="expected an integer >= 1", code="NDL005"), ctx)
            return inp[0], _UNKNOWN
        for _ in range(1 if self.shallow else rep.times):
            if self._too_big(rep.times_span or rep.span, "repeats too often", ctx):
                return inp[0], _UNKNOWN
            before = len(self.errors)
            inp = self._chain(rep.chain, inp, ctx)
            if len(self.errors) > before or inp[1] is _UNKNOWN:
                break  # the same mistake in every copy is reported once; unknown stays unknown
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
        hit = self._bound.get((id(layer), id(ctx.subst)))
        if hit is not None and hit.layer is layer and hit.subst is ctx.subst:
            return self._apply(hit, inp, ctx)  # a repeated step: bound once, inferred per input
        if layer.name in self.blocks:
            return self._use_block(layer, inp, ctx)
        if layer.name in self.broken:
            return inp[0], _UNKNOWN  # its definition is already reported
        component = self.registry.get("layer", layer.name)
        if not isinstance(component, Layer):
            self._unknown_layer(layer, ctx)
            self._unknown_words(layer, ctx)
            return inp[0], _UNKNOWN
        args = tuple(substitute(a, ctx.subst) for a in layer.args) if ctx.subst else layer.args
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
        before = len(self.errors)
        bound = self.binder(ctx).bind(component, args, layer.name_span, partial=True)
        if bound is None:
            return inp[0], _UNKNOWN
        step = _BoundStep(layer, ctx.subst, component, bound)
        if len(self.errors) == before:
            self._bound[(id(layer), id(ctx.subst))] = step
        return self._apply(step, inp, ctx)

    def _apply(self, step: _BoundStep, inp: _Out, ctx: _Ctx) -> _Out:
        """A bound layer on its input: adapter if needed, then its shape rule (memoised per input
        shape, so a repeated step costs a dictionary look-up and a node)."""
        if inp[1] is _UNKNOWN:
            return inp[0], _UNKNOWN
        inp = self._adapt(step.component, inp, step.layer, ctx)
        if inp[1] is _UNKNOWN:
            return inp
        if step.component.reads_ids is not None and not self._reads_ids(step, inp[0], ctx):
            return inp[0], _UNKNOWN
        if step.text is None:
            step.text = self._text(step.layer, ctx)
        known = step.shapes.get(inp[1])
        if known is not None:
            return self._add(step.component, step.bound, inp[0], inp[1], known[0], known[1],
                             step.layer.span, step.text, ctx, items=step.items)
        out = self._infer_node(step.component, step.bound, inp[0], inp[1], step.layer.span, step.text, ctx)
        if out[1] is not _UNKNOWN:
            node = self.nodes[-1]
            step.shapes[inp[1]] = (node.output_shape, node.params)
        return out

    def _reads_ids(self, step: _BoundStep, inputs: tuple[int, ...], ctx: _Ctx) -> bool:
        """A layer reading integer ids (``reads_ids``, e.g. ``embedding``) must read the program's
        input through ``keeps_values`` layers only (a layer computing real values would feed it
        ids out of range at run time), and cover the dataset's vocabulary when it declares one."""
        component, name = step.component, step.component.reads_ids
        assert name is not None
        producer = self._value_source(inputs)
        source = getattr(step.bound, "sources", {}).get(name)
        at = source.span if source is not None and source.span is not None else step.layer.name_span
        if producer is not None:
            self.error(NetdslShapeError(
                f"`{component.name}` reads integer ids, but `{producer.layer}` before it outputs real "
                f"values (read as ids they fall outside 0..`{name}`-1 while training)", step.layer.name_span,
                label="reads ids", code="NDL008", notes=_note(producer.span, "real values come from here"),
                help=f"put `{component.name}` first, reading the dataset's ids (only layers that keep "
                     f"values, such as `reshape` or `flatten`, may come before it)"), ctx)
            return False
        bound, vocabulary = step.bound.get(name), self.info.vocabulary if self.info else None
        if vocabulary is not None and isinstance(bound, int) and bound < vocabulary:
            dataset = self.program.setting("dataset")
            self.error(NetdslArgumentError(
                f"`{name}={bound:,}` of `{component.name}` does not cover the dataset's ids, which go "
                f"up to {vocabulary - 1:,} (a vocabulary of {vocabulary:,})", at,
                label=f"ids up to {vocabulary - 1:,}", code="NDL005",
                notes=_note(dataset.value.span if dataset else None, "the vocabulary is set here"),
                help=f"use `{name}={vocabulary}`, or a smaller vocabulary in the dataset"), ctx)
            return False
        return True

    def _value_source(self, inputs: tuple[int, ...]) -> Node | None:
        """The first layer before ``inputs`` (through ``keeps_values`` layers) that computes new
        values; None when only the program's input reaches them."""
        todo, seen = list(inputs), set()
        while todo:
            i = todo.pop()
            if i < 0 or i in seen:
                continue
            seen.add(i)
            node = self.nodes[i]
            if node.component is None or not node.component.keeps_values:
                return node
            todo.extend(node.inputs)
        return None

    def _missing_arrow(self, component: Layer, layer: ir.Layer, args: Sequence[ir.Arg], ctx: _Ctx) -> bool:
        """``dropout 0.2 dense 10``: a layer name among another layer's arguments, which no
        parameter of that layer takes, is a missing ``->`` (one error, not one per argument)."""
        def starts_a_layer(name: str) -> bool:
            if self.registry.get("layer", name) is None and name not in self.blocks:
                return False
            binder = self.binder(ctx)
            return not any(p.type.claims(name, binder) for p in component.params if p.positional)

        substituted = layer if args is layer.args else dataclasses.replace(layer, args=tuple(args))
        arg = missing_arrow(substituted, starts_a_layer)
        if arg is None or not isinstance(arg.value, ir.Name):
            return False
        name = arg.value.value
        self.error(NetdslSyntaxError(
            f"`{name}` starts another layer, but nothing joins it to `{layer.name}`",
            arg.value.span, label="a new layer starts here", code="NDL002",
            expected="`->` between layers", help=f"write `->` before `{name}`"), ctx)
        return True

    def _body_values(self, layer: ir.Layer, ctx: _Ctx) -> list[ir.Arg]:
        """``dense(64, relu)``: a body that is one bare name is an argument, not a sub-network."""
        out = []
        for chain in layer.body:
            value = _chain_value(chain)
            if value is not None:
                out.append(substitute(ir.Arg(value, span=value.span), ctx.subst))
            else:
                self.error(NetdslArgumentError(
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

    def _unknown_words(self, layer: ir.Layer, ctx: _Ctx) -> None:
        """An unknown layer's arguments cannot be bound, but a bare name among them that no
        component and no parameter of any layer knows is a mistake of its own (``relux``)."""
        for arg in layer.args:
            value = arg.value
            if arg.key is not None or not isinstance(value, ir.Name) or value.value in ctx.subst:
                continue
            words = self._words()
            if value.value in words or value.value in self.blocks:
                continue
            close = suggest(value.value, sorted(words))
            self.error(NetdslNameError(
                f"unknown name `{value.value}`", value.span, label="not a known name", code="NDL003",
                help=f"did you mean `{close}`?" if close else None), ctx)

    def _words(self) -> frozenset[str]:
        """Every name an argument may be: components of every kind, and every option word."""
        if self._known_words is None:
            binder = self.binder(_Ctx())
            words = {n for kind in KINDS for n in self.registry.names(kind, aliases=True)}
            for entry in self.registry.entries():
                for p in entry.component.params:
                    words.update(p.type.names(binder))
            self._known_words = frozenset(words)
        return self._known_words

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
            try:
                args = adapter.args(shape) if adapter.implicit else None
                if args is not None:
                    args = dict(args)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's adapter must not crash `check`
                self._plugin_rule_failed(adapter_layer, f"(its adapter to {want}) raised {type(exc).__name__}: {exc}",
                                         layer.name_span, ctx)
                return inp[0], _UNKNOWN
            if args is not None:
                return self._implicit(adapter_layer, args, inp, layer, ctx)
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
                len(out)
            except (Exception, SystemExit):  # noqa: BLE001 - only a working rule gives a hint
                continue
            if len(out) == INPUT_KINDS[want][0]:
                return f"set `{p.name}={str(not value).lower()}` on `{node.layer}`"
        return None

    def _adapter_hint(self, want: str, shape: Shape) -> str | None:
        """Steps the user can write to turn ``shape`` into ``want``, each checked to work."""
        steps: list[str] = []
        for adapter_layer, adapter in self._adapters(want):
            try:
                args = adapter.args(shape)
                if args is None:
                    continue
                full = {p.name: p.default for p in adapter_layer.params}
                full.update(args)
                out, _ = adapter_layer.infer(shape, full)
                len(out)
            except (Exception, SystemExit):  # noqa: BLE001 - only a working rule gives a hint
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
        try:
            shape, params = component.infer(inp[1], full)
            shape = tuple(shape)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's shape rule must not crash `check`
            self._plugin_rule_failed(component, f"raised {type(exc).__name__}: {exc}", layer.name_span, ctx)
            return inp[0], _UNKNOWN
        written = ir.Layer(component.name, tuple(ir.Arg(value_to_ir(v)) for v in args.values()))
        text = f"{format_step(written)} (implicit)"
        return self._add(component, full, inp[0], inp[1], shape, params, layer.name_span, text, ctx,
                         implicit=True)

    # --- nodes --------------------------------------------------------------------------------
    def _infer_node(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...],
                    shape: Any, span: Span | None, text: str, ctx: _Ctx, *,
                    merge_args: bool = False, inner_node: Node | None = None, **extra: Any) -> _Out:
        try:
            result = component.infer(shape, bound, **extra)
        except ShapeProblem as p:
            where = span
            source = getattr(bound, "sources", {}).get(p.param) if p.param else None
            if source is None and p.param and "inner" in extra:  # an argument of the wrapped layer
                source = getattr(getattr(extra["inner"], "args", None), "sources", {}).get(p.param)
            if source is not None and source.span is not None:
                where = source.span
            self.error(NetdslShapeError(
                f"`{component.name}` cannot take its input: {p.message}", where,
                label=f"input is {format_shape(shape) if not merge_args else ', '.join(map(format_shape, shape))}",
                code="NDL008", help=p.help), ctx)
            return inputs, _UNKNOWN
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a plugin's shape rule must not crash `check`
            self._plugin_rule_failed(component, f"raised {type(exc).__name__}: {exc}", span, ctx)
            return inputs, _UNKNOWN
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            self._plugin_rule_failed(component, f"returned {_short(result)}, not (shape, parameter count)",
                                     span, ctx)
            return inputs, _UNKNOWN
        out, params = result
        if not _is_shape(out) or not isinstance(params, int) or isinstance(params, bool) or params < 0:
            self._plugin_rule_failed(component, f"returned {_short((out, params))}, not (shape, parameter count)",
                                     span, ctx)
            return inputs, _UNKNOWN
        values = _size(tuple(d for d in out if d is not None))
        if params > MAX_PARAMS or values > MAX_VALUES:
            what = (f"{params:,} parameters ({params * 4 / 2**30:,.0f} GB of weights)" if params > MAX_PARAMS
                    else f"an output of {values:,} values per example ({format_shape(tuple(out))})")
            self.error(NetdslLimitError(
                f"`{component.name}` would have {what}, more than netdsl builds "
                f"({MAX_PARAMS if params > MAX_PARAMS else MAX_VALUES:,})", span, label="too large",
                code="NDL012", help="use fewer units, filters or a smaller size"), ctx)
            return inputs, _UNKNOWN
        return self._add(component, bound, inputs, shape, tuple(out), params, span, text, ctx,
                         inner=inner_node)

    def _plugin_rule_failed(self, component: Layer, what: str, span: Span | None, ctx: _Ctx) -> None:
        from ..errors import NetdslPluginError

        entry = self.registry.entry("layer", component.name)
        self.error(NetdslPluginError(
            f"the shape rule of `{component.name}` ({entry.provider if entry else '?'}) {what}", span,
            label="plugin error", code="NDL206",
            help="this is a bug in the plugin that provides the layer; report it there"), ctx)

    def _add(self, component: Layer, bound: Mapping[str, Any], inputs: tuple[int, ...], in_shape: Any,
             out: Shape, params: int, span: Span | None, text: str, ctx: _Ctx, *,
             implicit: bool = False, inner: Node | None = None,
             items: tuple[tuple[str, Any], ...] | None = None) -> _Out:
        provider = self._providers.get(component.name)
        if provider is None:
            entry = self.registry.entry("layer", component.name)
            provider = self._providers[component.name] = str(entry.provider) if entry else ""
        node = Node.make(len(self.nodes), component.name,
                         items if items is not None else tuple(bound.items()), tuple(inputs), in_shape,
                         out, params, text, span, implicit, ctx.depth, inner, component, provider)
        self.nodes.append(node)
        return (node.index,), out

    # --- blocks and wrappers ------------------------------------------------------------------
    def _use_block(self, layer: ir.Layer, inp: _Out, ctx: _Ctx) -> _Out:
        block = self.blocks[layer.name]
        if layer.name in ctx.blocks:
            self.error(NetdslNameError(
                f"block `{layer.name}` uses itself", layer.name_span, label="recursive use",
                code="NDL011", notes=_note(block.name_span, "defined here")), ctx)
            return inp[0], _UNKNOWN
        if len(ctx.blocks) >= MAX_BLOCK_DEPTH:
            self.error(NetdslLimitError(
                f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", layer.name_span,
                label="too deeply nested", code="NDL012", notes=_note(block.name_span, "defined here")), ctx)
            return inp[0], _UNKNOWN
        if block.params or layer.args or layer.body:  # a use without arguments has nothing to bind
            args = [substitute(a, ctx.subst) for a in (*layer.args, *self._body_values(layer, ctx))]
            defined = _note(block.name_span, "defined here")
            bound = Binder(self.registry, (*defined, *ctx.notes))
            bound.errors = self.errors
            subst = bound.bind(_block_component(block), args, layer.span, by_position=True)
            if subst is None:
                return inp[0], _UNKNOWN
        else:
            subst = {}
        if self.shallow:
            return inp[0], _UNKNOWN  # its body is checked once on its own (_unused_blocks)
        self.walked.add(block.name)
        use = Note(layer.span, f"in this use of `{block.name}`") if layer.span else None
        values = dict(subst) if subst else _NO_ARGS  # one mapping for every use without arguments,
        # so a block used many times (blocks using blocks) binds each of its layers once
        inner = _Ctx(values, (*([use] if use else []), *ctx.notes), (*ctx.blocks, block.name), ctx.depth)
        return self._chain(block.body, inp, inner)

    def _single_body(self, layer: ir.Layer, ctx: _Ctx) -> ir.Chain | None:
        if len(layer.body) != 1:
            self.error(NetdslArgumentError(
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
                self.error(NetdslArgumentError(
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

        inner.args = inner_bound  # type: ignore[attr-defined]  # the wrapped layer's arguments

        return self._infer_node(component, bound, inp[0], inp[1], layer.span, self._text(layer, ctx),
                                ctx, inner=inner, inner_layer=inner_c, inner_node=inner_node)


#: the walk of each kind of step. Plain functions on the class, not bound methods kept on the
#: checker: a bound method stored in its own instance is a reference cycle, which left every
#: check's whole graph (nodes, bound steps, ~6,700 objects) to the cyclic garbage collector
_STEPS: dict[type, Callable[[_Checker, Any, _Out, _Ctx], _Out]] = {
    ir.Layer: _Checker._layer, ir.Repeat: _Checker._repeat, ir.Branches: _Checker._branches,
}


def _note(span: Span | None, label: str) -> list[Note]:
    return [Note(span, label)] if span is not None else []


def _size(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _same_size(a: Sequence[int], b: Sequence[int]) -> bool:
    return -1 not in a and _size(a) == _size(b)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a plugin may return anything, of any size)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a plugin's object whose repr fails
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value)
