"""Binding: IR arguments to a component's typed parameters, with an error at every bad argument.

Positional values fill parameters by what they are: numbers, shapes and strings fill the next
positional parameter whose type takes them; a bare name binds to the one positional parameter
that claims it (an activation name fills ``activation``, a regularizer ``kernel_regularizer``,
an option such as ``same`` the parameter that allows it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import NetdslArgumentError, NetdslError, NetdslNameError, Note, Span
from ..lang import ir
from ..lang.hints import quoted_name_help
from ..vocab.components import REQUIRED, Component, Param, Ref
from ..vocab.registry import Registry, suggest
from ..vocab.types import Problem, describe_value

__all__ = ["Binder", "Placeholder", "article", "substitute"]


def article(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


@dataclass(frozen=True)
class Placeholder:
    """A block parameter whose value is unknown (a block checked on its own, with no use):
    it binds to whatever parameter it is given for, and nothing about it is checked."""

    value: str
    span: Span | None = None


def has_placeholder(value: Any) -> bool:
    """Whether an IR value contains a :class:`Placeholder` anywhere."""
    if isinstance(value, Placeholder):
        return True
    if isinstance(value, (ir.Tuple, ir.List)):
        return any(has_placeholder(v) for v in value.items)
    if isinstance(value, ir.Call):
        return any(has_placeholder(a.value) for a in value.args)
    return False


def substitute(value: ir.Node, subst: Mapping[str, ir.Value]) -> Any:
    """Replace block parameters (bare names) inside a value by the values given at the use."""
    if not subst:
        return value
    if isinstance(value, ir.Name) and value.value in subst:
        return subst[value.value]
    if isinstance(value, ir.Arg):
        return ir.Arg(substitute(value.value, subst), value.key, value.span, value.key_span)
    if isinstance(value, (ir.Tuple, ir.List)):
        return type(value)(tuple(substitute(v, subst) for v in value.items), value.span)
    if isinstance(value, ir.Call):
        return ir.Call(
            value.name, tuple(substitute(a, subst) for a in value.args), value.span, value.name_span
        )
    return value


class Binder:
    """Binds arguments against a registry, collecting every error instead of stopping at one."""

    def __init__(self, registry: Registry, notes: Sequence[Note] = ()) -> None:
        self.registry = registry
        self.errors: list[NetdslError] = []
        self.notes = tuple(notes)  # added to every error (e.g. "in this use of block `conv`")
        #: references to bare names (``relu``) already bound, shared by the binders of one check
        #: (a pure function of the registry, kind and name; ``None``: not kept)
        self.refs: dict[tuple[str, str], Ref] | None = None

    def error(self, err: NetdslError) -> None:
        err.__traceback__ = (
            None  # a caught error is kept: its frames would hold this binder (a cycle)
        )
        if self.notes:
            err.notes = err.notes + self.notes
        self.errors.append(err)

    # --- components -----------------------------------------------------------------------------
    def bind(
        self,
        component: Component,
        args: Sequence[ir.Arg],
        where: Span | None,
        *,
        partial: bool = False,
        by_position: bool = False,
    ) -> dict[str, Any] | None:
        """Bound values by parameter name (defaults filled), or None if any argument failed.

        ``partial``: after errors (which are still reported), return the values that did bind,
        with defaults for the arguments that failed, so later checks can go on; None only when
        a required parameter has no value. ``by_position``: positional arguments fill the
        positional parameters in order (block parameters), whatever their values are.
        """
        params = component.params
        by_name = {p.name: p for p in params}
        given: dict[str, tuple[ir.Arg, Any]] = {}
        ok = True
        failed: set[str] = set()
        unknowns = False  # a placeholder was given: the component's rules cannot be judged
        deferred: list[ir.Arg] = []  # positional placeholders: they fill what stays open
        position = iter([p for p in params if p.positional])
        for arg in args:
            unknown = has_placeholder(arg.value)
            if (
                unknown
                and arg.key is None
                and not by_position
                and not isinstance(arg.value, ir.Call)
            ):
                deferred.append(arg)
                continue
            if by_position and arg.key is None:
                param = next(position, None)
                if param is None:
                    self.error(
                        NetdslArgumentError(
                            f"{_what(component)} takes {_count(component)}",
                            arg.span,
                            label="one too many",
                            code="NDL005",
                        )
                    )
                    ok = False
                    continue
            else:
                param = self._param_for(component, arg, by_name, given)
            if param is None:
                ok = False
                continue
            if param.name in given:
                first = given[param.name][0]
                self.error(
                    NetdslArgumentError(
                        f"{_what(component)} gets `{param.name}` twice",
                        arg.span,
                        label=f"second `{param.name}`",
                        code="NDL006",
                        notes=[Note(first.span, "first given here")] if first.span else [],
                        help=f"give `{param.name}` once",
                    )
                )
                ok = False
                continue
            if unknown:
                given[param.name] = (arg, None)
                unknowns = True
                continue
            try:
                given[param.name] = (arg, param.type.convert(arg.value, self))
            except Problem as p:
                self._problem(p, arg, param, component)
                given[param.name] = (arg, None)
                failed.add(param.name)
                ok = False
            except NetdslError as e:  # from a nested reference, already located
                self.error(e)
                given[param.name] = (arg, None)
                failed.add(param.name)
                ok = False
        still_open = iter([p for p in params if p.positional and p.name not in given])
        for arg in deferred:
            param = next(still_open, None)
            if param is not None:
                given[param.name] = (arg, None)
        out = _Bound()
        out.sources = {name: arg for name, (arg, _) in given.items()}
        complete = True
        for param in params:
            if param.name in given and param.name not in failed:
                out[param.name] = given[param.name][1]
            elif param.default is REQUIRED:
                if param.name not in failed and not deferred:
                    self._missing(component, param, where)
                ok = complete = False
            else:
                out[param.name] = param.default
        if ok and component.rules and not unknowns and not deferred:
            ok = self._rules(component, out, where)
        if ok or (partial and complete):
            return out
        return None

    def _rules(self, component: Component, bound: _Bound, where: Span | None) -> bool:
        """Run the component's cross-parameter rules; each violation is an error at the argument
        it names (or at the component when that argument was left to its default)."""
        from ..errors import NetdslPluginError
        from ..vocab.components import apply_rule

        ok = True
        names = {p.name for p in component.params}
        for rule in component.rules:
            found, broken = apply_rule(rule, (bound,), names)
            for what in broken:
                self.error(
                    NetdslPluginError(
                        f"a rule of {_what(component)} ({getattr(rule, '__qualname__', rule)}) {what}",
                        where,
                        code="NDL206",
                        label="plugin error",
                        help="this is a bug in the plugin that declares it; report it there",
                    )
                )
            for v in found:
                arg = bound.sources.get(v.param)
                self.error(
                    NetdslArgumentError(
                        f"bad `{v.param}` for {_what(component)}: {v.message}",
                        arg.span if arg is not None and arg.span is not None else where,
                        label="not allowed here" if arg is not None else f"`{v.param}` by default",
                        code="NDL005",
                        help=v.help,
                    )
                )
            ok = ok and not found and not broken
        return ok

    def _param_for(
        self,
        component: Component,
        arg: ir.Arg,
        by_name: Mapping[str, Param],
        given: Mapping[str, Any],
    ) -> Param | None:
        if arg.key is not None:
            param = by_name.get(arg.key)
            if param is None:
                close = suggest(arg.key, by_name)
                self.error(
                    NetdslArgumentError(
                        f"{_what(component)} has no parameter `{arg.key}`",
                        arg.key_span or arg.span,
                        label="unknown parameter",
                        code="NDL007",
                        expected=_names(by_name) or f"no arguments ({_what(component)} takes none)",
                        help=f"did you mean `{close}`?" if close else None,
                    )
                )
            return param
        value = arg.value
        positional = [p for p in component.params if p.positional]
        if isinstance(value, (ir.Name, ir.Call)):
            name = value.value if isinstance(value, ir.Name) else value.name
            claims = [p for p in positional if p.type.claims(name, self)]
            if len(claims) == 1:
                return claims[0]
            if len(claims) > 1:
                self.error(
                    NetdslArgumentError(
                        f"`{name}` could be {' or '.join(f'`{p.name}`' for p in claims)} of {_what(component)}",
                        arg.span,
                        label="ambiguous",
                        code="NDL006",
                        help=f"say which: `{claims[0].name}={name}`",
                    )
                )
                return None
            self._unknown_name(component, name, value, positional)
            return None
        for p in positional:
            if p.name not in given and p.type.takes(value):
                return p
        taken = [p for p in positional if p.type.takes(value)]
        if not taken:
            # a value of the wrong kind where a required parameter is still open (`dense 1.5`,
            # `dropout "a"`): a type error at this argument, not "missing" plus "unexpected"
            open_ = [p for p in positional if p.name not in given and p.required]
            if open_:
                return open_[0]
        if taken and all(p.name in given for p in taken):
            p = taken[-1]
            first = given[p.name][0]
            self.error(
                NetdslArgumentError(
                    f"too many values for {_what(component)}: `{p.name}` is already given",
                    arg.span,
                    label="one value too many",
                    code="NDL006",
                    notes=[Note(first.span, f"`{p.name}` given here")] if first.span else [],
                    help=f"give `{p.name}` once",
                )
            )
            return None
        self.error(
            NetdslArgumentError(
                f"{_what(component)} takes no positional argument like {describe_value(value)}",
                arg.span,
                label="unexpected argument",
                code="NDL005",
                expected=str(_positional_words(component))
                or _names({p.name: p for p in component.params}),
                help=self._positional_help(component, value, given),
            )
        )
        return None

    def _positional_help(
        self, component: Component, value: ir.Value, given: Mapping[str, Any]
    ) -> str | None:
        """How to pass a positional value nothing positional takes: a quoted name unquoted
        (``dense 64 "relu"``), else by name, naming the open parameters that take such a value
        (``synthetic(10)`` → ``classes=10``)."""
        if isinstance(value, ir.Str) and any(
            p.positional and p.type.claims(value.value, self) for p in component.params
        ):
            return quoted_name_help(value)
        fits = [p.name for p in component.params if p.name not in given and p.type.takes(value)]
        if not fits:
            return None
        others = f", or one of {', '.join(f'`{n}`' for n in fits[1:])}" if fits[1:] else ""
        return f"name the parameter: `{fits[0]}={_fmt(value)}`{others}"

    def _unknown_name(
        self, component: Component, name: str, value: ir.Node, positional: Sequence[Param]
    ) -> None:
        span = value.name_span if isinstance(value, ir.Call) else getattr(value, "span", None)
        pool = [n for p in positional for n in p.type.names(self)]
        wanted = _positional_words(component, names_only=True)
        kinds = self.registry.kinds_of(name)
        close = suggest(name, pool)
        if kinds:
            msg = f"`{name}` is {article(kinds[0])}, which {_what(component)} does not take"
            label = f"{article(kinds[0])}"
        elif not wanted:
            msg = f"{_what(component)} takes no name here, found `{name}`"
            label = "unexpected name"
        else:
            msg = f"unknown name `{name}` for {_what(component)}"
            label = f"not {_or([article(w) for w in wanted])}"
        self.error(
            NetdslNameError(
                msg,
                span,
                label=label,
                code="NDL003",
                expected=_or([article(w) for w in wanted]) if wanted else None,
                help=f"did you mean `{close}`?" if close else None,
            )
        )

    def _missing(self, component: Component, p: Param, where: Span | None) -> None:
        how = f"`{component.name} <{p.name}>`" if p.positional else f"`{p.name}=...`"
        self.error(
            NetdslArgumentError(
                f"{_what(component)} needs `{p.name}` ({p.type.label})",
                where,
                label=f"missing `{p.name}`",
                code="NDL007",
                help=f"give it as {how}",
            )
        )

    def _problem(self, p: Problem, arg: ir.Arg, param: Param, component: Component) -> None:
        node = p.node if p.node is not None and getattr(p.node, "span", None) else arg
        help_ = p.help
        if help_ is None and isinstance(node, (ir.Name, ir.Str)):
            close = suggest(node.value, param.type.names(self))
            help_ = f"did you mean `{close}`?" if close and close != node.value else None
        label = f"expected {p.expected}" if p.expected else None
        if label and len(label) > 48 and p.expected and p.expected in p.message:
            label = "not allowed here"  # a long list of choices reads once, in the message
        self.error(
            NetdslArgumentError(
                f"bad `{param.name}` for {_what(component)}: {p.message}",
                getattr(node, "span", None),
                label=label,
                code="NDL005",
                help=help_,
            )
        )

    # --- references (called by types.Ref) -------------------------------------------------------
    def bind_ref(self, kind: str, value: ir.Value) -> Ref:
        """``relu`` or ``l2(0.01)`` to a bound reference of ``kind``; raises NetdslError if unknown."""
        args: tuple[ir.Arg, ...] = ()
        if isinstance(value, ir.Name) and self.refs is not None:
            known = self.refs.get((kind, value.value))
            if known is not None:
                return known
        if isinstance(value, (ir.Name, ir.Str)):
            name, span = value.value, value.span
        else:
            assert isinstance(value, ir.Call)
            name, args, span = value.name, value.args, value.name_span
        entry = self.registry.entry(kind, name)
        if entry is None:
            raise _unknown(self.registry, kind, name, span)
        component = entry.component
        inner = Binder(self.registry)
        bound = inner.bind(component, args, span)
        if inner.errors:
            from ..errors import NetdslErrors

            raise NetdslErrors(inner.errors)
        ref = Ref(
            kind, component.name, tuple((bound or {}).items()), component, str(entry.provider)
        )
        if isinstance(value, ir.Name) and self.refs is not None:
            self.refs[(kind, value.value)] = ref
        return ref


def _what(component: Component) -> str:
    """How messages name a component: "`dense`", or "block `hidden`" for a block's parameters."""
    return (
        f"{component.kind} `{component.name}`"
        if component.kind == "block"
        else f"`{component.name}`"
    )


def _count(component: Component) -> str:
    n = sum(1 for p in component.params if p.positional)
    return f"{n} argument{'s' * (n != 1)}" if n else "no arguments"


class _Bound(dict[str, Any]):
    """Bound values by parameter name; ``sources`` maps each given one to its argument (for carets)."""

    sources: dict[str, ir.Arg]


def _unknown(registry: Registry, kind: str, name: str, span: Span | None) -> NetdslNameError:
    close = registry.suggest(kind, name)
    kinds = registry.kinds_of(name)
    msg = (
        f"`{name}` is {article(kinds[0])}, not {article(kind)}"
        if kinds
        else f"unknown {kind} `{name}`"
    )
    names = registry.names(kind)
    return NetdslNameError(
        msg,
        span,
        label=f"not {article(kind)}",
        code="NDL003",
        expected=f"{article(kind)}: "
        + ", ".join(f"`{n}`" for n in names[:8])
        + (", …" if len(names) > 8 else ""),
        help=f"did you mean `{close}`?" if close else f"`netdsl plugins --all` lists every {kind}",
    )


def unknown_name(
    registry: Registry, kind: str, name: str, span: Span | None, extra: Sequence[str] = ()
) -> NetdslNameError:
    """The error for a name not found in ``kind`` (``extra``: more candidates, e.g. blocks)."""
    err = _unknown(registry, kind, name, span)
    if extra and not (err.help or "").startswith("did you"):
        close = suggest(name, [*registry.names(kind, aliases=True), *extra])
        if close:
            err.help = f"did you mean `{close}`?"
    return err


def _or(words: Sequence[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _names(by_name: Mapping[str, Param]) -> str:
    return ", ".join(f"`{n}`" for n in by_name)


def _positional_words(component: Component, names_only: bool = False) -> list[str] | str:
    words: list[str] = []
    for p in component.params:
        if not p.positional:
            continue
        t = p.type
        kind = getattr(t, "kind", None)
        if kind:
            words.append(kind)
        elif getattr(t, "choices", None):
            words.append(f"option ({', '.join(t.choices)})" if names_only else p.name)  # type: ignore[attr-defined]
        elif not names_only:
            words.append(f"`{p.name}` ({t.label})")
    if names_only:
        return words
    return ", ".join(words)


def _fmt(value: ir.Node) -> str:
    from ..lang.formatter import format_value

    return format_value(value)
