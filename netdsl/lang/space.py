"""A program's search space: its ``choice(...)`` and ``range(...)`` values, its ``choice(...)``
steps and repetition counts, as parameters with spans; and a point of it resolved to a plain
program that the ordinary checker and trainer take.

The grammar knows none of this: ``choice(32, 64)`` parses as a call value and
``choice(dense 64, dense 128 -> dropout 0.2)`` as a call-form step, and this module reads
them after parsing. A point is ``{parameter name: value}``: an option's index for a choice, a
number for a range; a parameter inside an option of a step choice is active only when that
option is chosen (its ``parent``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..errors import NetdslError, NetdslErrors, NetdslSpaceError, Span
from . import ir
from .formatter import format_chain, format_value

__all__ = [
    "Param",
    "Point",
    "Space",
    "extract",
    "first_space_span",
    "has_space",
    "resolve",
]

#: the call names that make a search space
CHOICE, RANGE = "choice", "range"
SPACE_CALLS = (CHOICE, RANGE)
#: a setting whose key starts so belongs to the tuner (:mod:`.settings`), never to a run
TUNE_PREFIX = "tune_"

Kind = Literal["choice", "step", "int", "float"]
Point = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    """One dimension of a space. ``options`` are IR values (a choice) or chains (a step
    choice); a range has ``low``, ``high``, ``step`` and ``log``. ``parent`` is
    ``(name, option index)`` when the parameter lives inside a step choice's option."""

    name: str
    kind: Kind
    span: Span | None
    where: str
    options: tuple[Any, ...] = ()
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False
    parent: tuple[str, int] | None = None

    @property
    def discrete(self) -> bool:
        return self.kind != "float" or self.step is not None

    @property
    def count(self) -> int | None:
        """How many values it takes (None: a real range without a step)."""
        if self.kind in ("choice", "step"):
            return len(self.options)
        if not self.discrete:
            return None
        step = self.step or 1
        return math.floor((self.high - self.low) / step + 1e-9) + 1

    def option_text(self, i: int) -> str:
        opt = self.options[i]
        return format_chain(opt) if isinstance(opt, ir.Chain) else format_value(opt)

    def option_span(self, i: int) -> Span | None:
        return self.options[i].span if self.options else self.span

    def describe(self) -> str:
        """The space as the program writes it: ``choice(32, 64)``, ``range(1e-4, 0.1, log)``."""
        if self.options:
            return "choice(" + ", ".join(self.option_text(i) for i in range(self.count or 0)) + ")"
        extra = (f", step={_num(self.step)}" if self.step else "") + (", log" if self.log else "")
        return f"range({_num(self.low)}, {_num(self.high)}{extra})"

    def value_text(self, value: Any) -> str:
        """A point's value of this parameter as text (an option as written, or the number)."""
        if self.options:
            return self.option_text(int(value))
        return _num(value)

    def check_values(self, all_up_to: int = 8) -> tuple[Any, ...]:
        """The values the static check tries: every option, every value of a small integer
        range, else a range's two ends and its middle (see docs/search.md)."""
        if self.options:
            return tuple(range(len(self.options)))
        n = self.count
        if self.kind == "int" and n is not None and n <= all_up_to:
            return tuple(int(self.low + i * (self.step or 1)) for i in range(n))
        mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        if self.kind == "int":
            step = int(self.step or 1)
            mid = int(self.low) + round((mid - self.low) / step) * step
            return tuple(dict.fromkeys((int(self.low), int(mid), int(self.high))))
        return tuple(dict.fromkeys((self.low, mid, self.high)))


def _num(x: float | None) -> str:
    if x is None:
        return "none"
    if isinstance(x, int) or (float(x).is_integer() and abs(x) < 1e15):
        return str(int(x))
    return f"{x:.6g}"


@dataclass(frozen=True)
class Space:
    """A program with its parameters (tune settings set apart in ``tune``)."""

    program: ir.Program
    params: tuple[Param, ...]
    tune: tuple[ir.Setting, ...] = ()
    by_name: Mapping[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def param(self, name: str) -> Param:
        return self.by_name[name]

    def active(self, param: Param, point: Point) -> bool:
        """Whether ``param`` takes part in ``point`` (its step choices chose its option)."""
        while param.parent is not None:
            name, option = param.parent
            if point.get(name) != option:
                return False
            param = self.by_name[name]
        return True

    def size(self) -> tuple[int, bool]:
        """How many points the discrete parameters make (inactive ones not counted twice),
        and whether a real range makes the space continuous too."""
        return _count(self, None, -1), any(not p.discrete for p in self.params)

    def children(self, parent: tuple[str, int] | None) -> Iterator[Param]:
        return (p for p in self.params if p.parent == parent)

    def describe_point(self, point: Point) -> str:
        """``dense@1:7=64, step@2:4=dense 128 relu``: the active parameters' values."""
        return ", ".join(
            f"{p.name}={p.value_text(point[p.name])}"
            for p in self.params
            if p.name in point and self.active(p, point)
        )


def _count(space: Space, parent_name: str | None, option: int) -> int:
    """Points under one option of a step choice (or the whole space): the product over its
    parameters of their counts, a step choice's count being the sum over its options."""
    parent = None if parent_name is None else (parent_name, option)
    total = 1
    for p in space.children(parent):
        if p.kind == "step":
            total *= sum(_count(space, p.name, i) for i in range(len(p.options)))
        else:
            total *= p.count or 1
    return total


def has_space(program: ir.Program) -> bool:
    """Whether a program holds any search space or tune setting (a cheap scan)."""
    if any(s.key.startswith(TUNE_PREFIX) for s in program.settings):
        return True
    source = program.source
    if source is not None and not any(f"{name}(" in source for name in SPACE_CALLS):
        return False  # a search call is written `choice(` or `range(`: without that text, none
    return any(True for _ in _calls(program))


def first_space_span(program: ir.Program) -> Span | None:
    """Where the program's first search call (or tune setting) is."""
    for node in _calls(program):
        return node.span  # type: ignore[no-any-return]
    tune = [s for s in program.settings if s.key.startswith(TUNE_PREFIX)]
    return tune[0].key_span if tune else None


def _calls(node: Any) -> Iterator[Any]:
    if isinstance(node, ir.Call) and node.name in SPACE_CALLS:
        yield node
        return
    if isinstance(node, ir.Layer) and node.call and node.name == CHOICE:
        yield node
        return
    if isinstance(node, ir.Program):
        kids: tuple[Any, ...] = (
            *node.settings,
            *node.blocks,
            *node.bindings,
            *((node.network,) if node.network else ()),
        )
    elif isinstance(node, ir.Node):
        kids = tuple(getattr(node, f) for f in node.__dataclass_fields__ if f != "span")
    elif isinstance(node, tuple):
        kids = node
    else:
        return
    for kid in kids:
        if isinstance(kid, (ir.Node, tuple)):
            yield from _calls(kid)


# --- extraction -------------------------------------------------------------------------------


def extract(program: ir.Program) -> Space:
    """The program's space; every malformed ``choice``/``range`` is an error at its span."""
    ex = _Extractor()
    settings = []
    tune = []
    for s in program.settings:
        if s.key.startswith(TUNE_PREFIX):
            tune.append(s)
        else:
            settings.append(s)
            ex.value(s.value, s.key, None)
    for b in program.blocks:
        ex.chain(b.body, None)
    for n in program.bindings:
        ex.chain(n.chain, None)
    if program.network is not None:
        ex.chain(program.network, None)
    if ex.errors:
        for e in ex.errors:
            e.source = program.source
        raise NetdslErrors(ex.errors)
    params = tuple(ex.params)
    plain = replace(program, settings=tuple(settings))
    return Space(plain, params, tuple(tune), {p.name: p for p in params})


class _Extractor:
    """Walks the IR in source order, making a :class:`Param` of each search call."""

    def __init__(self) -> None:
        self.params: list[Param] = []
        self.errors: list[NetdslError] = []
        self.names: set[str] = set()

    def fail(self, message: str, span: Span | None, label: str, help: str | None = None) -> None:
        self.errors.append(NetdslSpaceError(message, span, label=label, help=help))

    def name(self, where: str, span: Span | None) -> str:
        base = f"{where}@{span.line}:{span.column}" if span else f"{where}#{len(self.params)}"
        name, n = base, 2
        while name in self.names:
            name, n = f"{base}.{n}", n + 1
        self.names.add(name)
        return name

    # values
    def value(self, v: ir.Node, where: str, parent: tuple[str, int] | None) -> None:
        if isinstance(v, ir.Call) and v.name in SPACE_CALLS:
            made = (
                self.choice(v, where, parent) if v.name == CHOICE else self.range(v, where, parent)
            )
            if made is not None and made.options:
                for i, opt in enumerate(made.options):
                    self.value(opt, where, (made.name, i))
            return
        if isinstance(v, ir.Call):
            for a in v.args:
                self.value(a.value, f"{where}.{a.key}" if a.key else where, parent)
        elif isinstance(v, (ir.Tuple, ir.List)):
            for item in v.items:
                self.value(item, where, parent)
        elif isinstance(v, ir.Map):
            for a in v.items:
                self.value(a.value, f"{where}.{a.key}", parent)

    def add(self, param: Param) -> Param:
        self.params.append(param)
        return param

    def choice(self, call: ir.Call, where: str, parent: tuple[str, int] | None) -> Param | None:
        if not call.args:
            self.fail("an empty choice", call.span, "no options", "give options: choice(32, 64)")
            return None
        keyed = [a for a in call.args if a.key]
        if keyed:
            a = keyed[0]
            self.fail(
                f"`choice` takes options, not `{a.key}=`",
                a.span,
                "not an option",
                "write the options alone: choice(32, 64, 128)",
            )
            return None
        seen: dict[str, Span | None] = {}
        for a in call.args:
            text = format_value(a.value)
            if text in seen:
                self.fail(f"the option `{text}` is given twice", a.span, "given before")
                return None
            seen[text] = a.span
        options = tuple(a.value for a in call.args)
        return self.add(
            Param(self.name(where, call.span), "choice", call.span, where, options, parent=parent)
        )

    def range(self, call: ir.Call, where: str, parent: tuple[str, int] | None) -> Param | None:
        read = _read_range(call)
        if isinstance(read, NetdslError):
            self.errors.append(read)
            return None
        low, high, step, log = read
        both_int = all(isinstance(x, int) for x in (low, high)) and (
            step is None or isinstance(step, int)
        )
        kind: Kind = "int" if both_int else "float"
        return self.add(
            Param(
                self.name(where, call.span),
                kind,
                call.span,
                where,
                low=low,
                high=high,
                step=step,
                log=log,
                parent=parent,
            )
        )

    # network
    def chain(self, chain: ir.Chain, parent: tuple[str, int] | None) -> None:
        for step in chain.steps:
            self.step(step, parent)

    def step(self, step: ir.Step, parent: tuple[str, int] | None) -> None:
        if isinstance(step, ir.Layer) and step.call and step.name == CHOICE:
            self.step_choice(step, parent)
            return
        if isinstance(step, ir.Layer):
            for a in step.args:
                self.value(a.value, f"{step.name}.{a.key}" if a.key else step.name, parent)
            for body in step.body:
                self.chain(body, parent)
        elif isinstance(step, ir.Repeat):
            if step.times_space is not None:
                self.times(step, parent)
            self.chain(step.chain, parent)
        elif isinstance(step, ir.Branches):
            for c in step.chains:
                self.chain(c, parent)
            for a in step.merge_args:
                where = f"{step.merge}.{a.key}" if a.key else str(step.merge)
                self.value(a.value, where, parent)

    def step_choice(self, layer: ir.Layer, parent: tuple[str, int] | None) -> None:
        if layer.args:
            a = layer.args[0]
            self.fail(
                "a `choice` step chooses between chains, not values",
                a.span,
                "not a chain",
                "write the options as chains: choice(dense 64 relu, dense 128 relu)",
            )
            return
        if not layer.body:
            self.fail("an empty choice", layer.span, "no options", "choice(dense 64, dense 128)")
            return
        param = self.add(
            Param(
                self.name("step", layer.span), "step", layer.span, "step", layer.body, parent=parent
            )
        )
        for i, body in enumerate(layer.body):
            self.chain(body, (param.name, i))

    def times(self, rep: ir.Repeat, parent: tuple[str, int] | None) -> None:
        call = rep.times_space
        assert call is not None
        if call.name not in SPACE_CALLS:
            self.fail(
                f"a repetition count is a number or a search space, not `{call.name}(...)`",
                call.name_span or call.span,
                "not choice or range",
                "write `* choice(1, 2, 3)`",
            )
            return
        before = len(self.params)
        self.value(call, "repeat", parent)
        made = self.params[before : before + 1]
        if not made:
            return
        p = made[0]
        bad = (
            p.kind == "float"
            or any(not isinstance(o, ir.Int) or o.value < 1 for o in p.options)
            or (p.kind == "int" and p.low < 1)
        )
        if bad:
            self.fail(
                "a repetition count takes whole numbers from 1",
                call.span,
                "not counts from 1",
                "write `* choice(1, 2, 3)` or `* range(1, 4)`",
            )


_RANGE_KEYS = ("step", "log")


def _read_range(call: ir.Call) -> tuple[Any, Any, Any, bool] | NetdslError:
    """``range(low, high, step=S, log=true)`` read and checked, or the error at its span."""

    def err(message: str, span: Span | None, label: str, help: str | None = None) -> NetdslError:
        return NetdslSpaceError(message, span, label=label, help=help)

    usage = "range(16, 128, step=16) or range(1e-4, 1e-1, log=true)"
    pos = [a for a in call.args if not a.key]
    keyed = {a.key: a for a in call.args if a.key}
    for key, a in keyed.items():
        if key not in _RANGE_KEYS:
            return err(
                f"`range` has no parameter `{key}`",
                a.key_span or a.span,
                "not step or log",
                f"write {usage}",
            )
    if len(pos) != 2:
        return err(
            f"`range` takes a low and a high value, not {len(pos)}",
            call.span,
            "needs low and high",
            f"write {usage}",
        )
    nums = []
    for a in pos:
        if not isinstance(a.value, (ir.Int, ir.Float)):
            return err("a range's ends are numbers", a.span, "not a number", f"write {usage}")
        nums.append(a.value.value)
    low, high = nums
    step_arg, log_arg = keyed.get("step"), keyed.get("log")
    step = None
    if step_arg is not None:
        if not isinstance(step_arg.value, (ir.Int, ir.Float)) or step_arg.value.value <= 0:
            return err("a range's step is a number above 0", step_arg.span, "not a step > 0")
        step = step_arg.value.value
    log = False
    if log_arg is not None:
        if not isinstance(log_arg.value, ir.Bool):
            return err("`log` is true or false", log_arg.span, "not true or false")
        log = log_arg.value.value
    if low > high:
        return err(
            f"a range's low end {_num(low)} is above its high end {_num(high)}",
            call.span,
            "low > high",
            f"write range({_num(high)}, {_num(low)}, ...)",
        )
    if log and low <= 0:
        return err(
            f"a log range cannot reach {_num(low)}: its ends must be above 0",
            call.span,
            "log range through zero",
            "start the range above 0, e.g. range(1e-5, ...)",
        )
    if log and step is not None:
        return err(
            "a range is either logarithmic or stepped, not both",
            call.span,
            "log and step",
            "drop `step=` or `log=true`",
        )
    if (
        step is not None
        and isinstance(low, int)
        and isinstance(step, int)
        and isinstance(high, int)
        and (high - low) % step
    ):
        return err(
            f"the step {step} does not reach {high} from {low}",
            step_arg.span if step_arg else call.span,
            "does not divide",
            f"end at {high - (high - low) % step}",
        )
    return low, high, step, log


# --- resolution -------------------------------------------------------------------------------


def resolve(space: Space, point: Point) -> ir.Program:
    """The plain program of one point: each choice replaced by its option (keeping the option's
    span, so an error points at it), each range by the number (at the range's span)."""
    values: dict[int, Any] = {}
    for p in space.params:
        if space.active(p, point):
            if p.name not in point:
                raise KeyError(f"the point gives no value for {p.name}")
            values[_key(p)] = (p, point[p.name])
    return _Resolver(values).program(space.program)


def _key(p: Param) -> int:
    return p.span.start if p.span is not None else -1 - hash(p.name) % 10**9


class _Resolver:
    """Rebuilds the IR with each active search call replaced (keyed by its span's offset)."""

    def __init__(self, values: dict[int, tuple[Param, Any]]) -> None:
        self.values = values

    def lookup(self, node: ir.Node) -> tuple[Param, Any] | None:
        span = getattr(node, "span", None)
        return self.values.get(span.start) if span is not None else None

    def program(self, p: ir.Program) -> ir.Program:
        return replace(
            p,
            settings=tuple(replace(s, value=self.value(s.value)) for s in p.settings),
            blocks=tuple(replace(b, body=self.chain(b.body)) for b in p.blocks),
            bindings=tuple(replace(n, chain=self.chain(n.chain)) for n in p.bindings),
            network=self.chain(p.network) if p.network else None,
        )

    def value(self, v: Any) -> Any:
        if isinstance(v, ir.Call) and v.name in SPACE_CALLS:
            found = self.lookup(v)
            if found is None:
                raise KeyError(f"no value for the search space at {v.span}")
            param, value = found
            if param.options:
                return self.value(param.options[int(value)])
            if param.kind == "int":
                return ir.Int(int(value), v.span)
            return ir.Float(float(value), v.span)
        if isinstance(v, ir.Call):
            return replace(v, args=tuple(self.arg(a) for a in v.args))
        if isinstance(v, (ir.Tuple, ir.List)):
            return replace(v, items=tuple(self.value(i) for i in v.items))
        if isinstance(v, ir.Map):
            return replace(v, items=tuple(self.arg(a) for a in v.items))
        return v

    def arg(self, a: ir.Arg) -> ir.Arg:
        """The argument with its value resolved; a positional one takes the chosen option's
        span, so an error about it points at the option, not at the whole ``choice(...)``."""
        value = self.value(a.value)
        if a.key is None and value is not a.value and getattr(value, "span", None) is not None:
            return replace(a, value=value, span=value.span)
        return replace(a, value=value)

    def chain(self, c: ir.Chain) -> ir.Chain:
        steps: list[ir.Step] = []
        for s in c.steps:
            if isinstance(s, ir.Layer) and s.call and s.name == CHOICE:
                found = self.lookup(s)
                assert found is not None
                steps.extend(self.chain(found[0].options[int(found[1])]).steps)
            else:
                steps.append(self.step(s))
        return replace(c, steps=tuple(steps))

    def step(self, s: ir.Step) -> ir.Step:
        if isinstance(s, ir.Layer):
            return replace(
                s,
                args=tuple(self.arg(a) for a in s.args),
                body=tuple(self.chain(b) for b in s.body),
            )
        if isinstance(s, ir.Repeat):
            if s.times_space is not None:
                times = self.value(s.times_space)
                return ir.Repeat(self.chain(s.chain), int(times.value), s.span, times.span)
            return replace(s, chain=self.chain(s.chain))
        return replace(
            s,
            chains=tuple(self.chain(c) for c in s.chains),
            merge_args=tuple(self.arg(a) for a in s.merge_args),
        )
