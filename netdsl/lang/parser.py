"""Text to IR: the Lark grammar (LALR) and one Transformer that builds frozen IR nodes.

``parse`` needs no registry and never imports TensorFlow. Syntax errors become
:class:`NetdslSyntaxError` with a span, words for what was expected, and for an unclosed
bracket a note pointing at where it was opened.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from lark import Lark, Token, Transformer
from lark import __version__ as lark_version
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput
from lark.grammar import Rule
from lark.lexer import TerminalDef

from ..errors import (
    NetdslArgumentError,
    NetdslError,
    NetdslErrors,
    NetdslLimitError,
    NetdslSyntaxError,
    Note,
    Span,
)
from . import ir

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT_BYTES",
    "MAX_INT_DIGITS",
    "MAX_STEPS",
    "grammar_text",
    "may_pass_step_limit",
    "parse",
]

#: deepest nesting of brackets (groups, branches, calls, wrappers, tuples, lists) a program may
#: use; every later pass (format, check, to_dict, ==) recurses about 8 frames per level
MAX_DEPTH = 50
#: the largest program ``parse`` (and ``netdsl``'s commands) accept, in bytes of UTF-8
MAX_INPUT_BYTES = 10 * 1024 * 1024
#: the most steps (layers, groups, branches) a program may write: the checker's MAX_LAYERS, since
#: every written step is at least one layer. Counted by a scan of the text before Lark builds
#: anything, so a program past it is refused in milliseconds, not after parsing megabytes
MAX_STEPS = 100_000
#: the most digits an integer literal (or one dimension of a shape) may have: 18 digits always
#: fit a 64-bit integer, which is what every layer parameter ends up as
MAX_INT_DIGITS = 18
#: the escapes a string literal may use (``\"`` and ``\\``); any other backslash is an error
ESCAPES = {'"': '"', "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")


def grammar_text() -> str:
    """The grammar: from the installed wheel, else from the source tree's ``grammar/``."""
    packaged = resources.files("netdsl").joinpath("grammar/netdsl.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parents[2] / "grammar" / "netdsl.lark").read_text("utf-8")


# --- spans ------------------------------------------------------------------------------------


def _i(v: int | None) -> int:
    """A token position (the lexer always sets them; Lark types them optional)."""
    return v if v is not None else 0


def _tok_span(tok: Token, file: str | None, skip: int = 0) -> Span:
    return Span(
        _i(tok.start_pos) + skip,
        _i(tok.end_pos),
        _i(tok.line),
        _i(tok.column) + skip,
        _i(tok.end_line),
        _i(tok.end_column),
        file,
    )


def _join(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None:
        return a or b
    return Span(a.start, b.end, a.line, a.column, b.end_line, b.end_column, a.file)


# --- the transformer --------------------------------------------------------------------------

#: an IR node type, kept through the depth bookkeeping of :meth:`_ToIR._nest`
_N = TypeVar("_N")


class _ToIR(Transformer[Token, ir.Program]):
    """Parse tree → IR. Runs inside the LALR parser (no tree is built)."""

    def __init__(self) -> None:
        super().__init__()
        self.file: str | None = None
        self.depth: dict[int, int] = {}
        self.chains: dict[int, ir.Chain] = {}
        self.prior: ir.Chain | None = None
        self.setting_names: Collection[str] = ()

    def reset(
        self, file: str | None, prior: ir.Chain | None = None, setting_names: Collection[str] = ()
    ) -> None:
        """Start a parse; ``prior`` is a network in a part of the text blanked after an error;
        ``setting_names`` lets a misplaced ``epochs 10`` line be called a setting."""
        self.setting_names = setting_names
        self.file = file
        self.depth = {}
        self.chains = {}  # every chain by where it starts (the outermost wins), see _network_before
        self.prior = prior

    # depth bookkeeping: every node remembers how many brackets it sits in, so recursion stays
    # bounded; ``bracket`` is False for nodes that open none (a plain layer, a chain)
    def _nest(self, node: _N, children: Any, bracket: bool = True) -> _N:
        depth = self.depth  # empty until a bracket opens: most steps need no look-up at all
        d = int(bracket) + (max((depth.get(id(c), 0) for c in children), default=0) if depth else 0)
        if d > MAX_DEPTH:
            span = getattr(node, "name_span", None) or getattr(node, "span", None)
            if getattr(node, "name_span", None) is None and span is not None:
                span = Span(
                    span.start,
                    span.start + 1,
                    span.line,
                    span.column,
                    span.line,
                    span.column + 1,
                    span.file,
                )  # the opening bracket
            raise NetdslLimitError(
                f"brackets nest more than {MAX_DEPTH} levels deep",
                span,
                label=f"level {d} opens here",
                code="NDL012",
                help="flatten the structure, or use repetition `(...) * N` instead of nesting",
            )
        if d:
            self.depth[id(node)] = d
        return node

    def _s(self, tok: Token) -> Span:
        t: Any = tok  # from the lexer: every position is set (Lark types them optional)
        return Span(t.start_pos, t.end_pos, t.line, t.column, t.end_line, t.end_column, self.file)

    # values
    def int_lit(self, c: list[Token]) -> ir.Int:
        return ir.Int(_int(c[0], self.file), self._s(c[0]))

    def float_lit(self, c: list[Token]) -> ir.Float:
        value = float(c[0])
        if math.isinf(value):
            raise NetdslArgumentError(
                f"the number `{_clip(str(c[0]))}` is too large: it overflows to infinity",
                self._s(c[0]),
                label="too large for a float",
                code="NDL005",
                help="write a number below 1.8e308 (every layer parameter is far smaller)",
            )
        return ir.Float(value, self._s(c[0]))

    def true(self, c: list[Token]) -> ir.Bool:
        return ir.Bool(True, self._s(c[0]))

    def false(self, c: list[Token]) -> ir.Bool:
        return ir.Bool(False, self._s(c[0]))

    def string(self, c: list[Token]) -> ir.Str:
        raw = str(c[0])[1:-1]
        if "\\" in raw:
            for m in _ESCAPE.finditer(raw):
                if m.group(1) not in ESCAPES:
                    at, line, col = (
                        _i(c[0].start_pos) + 1 + m.start(),
                        _i(c[0].line),
                        _i(c[0].column),
                    )
                    span = Span(
                        at, at + 2, line, col + 1 + m.start(), line, col + 3 + m.start(), self.file
                    )
                    shown = m.group(0) if m.group(1).isprintable() else repr(m.group(1))[1:-1]
                    raise NetdslSyntaxError(
                        f"unknown escape `{shown}` in a string",
                        span,
                        label="not an escape",
                        expected='`\\"` or `\\\\`',
                        code="NDL002",
                        help='a string may escape only `"` (as `\\"`) and `\\` (as `\\\\`)',
                    )
            raw = _ESCAPE.sub(lambda m: ESCAPES[m.group(1)], raw)
        return ir.Str(raw, self._s(c[0]))

    def shape(self, c: list[Token]) -> ir.Shape:
        dims, at = [], 0
        for d in str(c[0]).split("x"):
            if len(d) > MAX_INT_DIGITS:
                tok = c[0]
                begin, line, col = _i(tok.start_pos) + at, _i(tok.line), _i(tok.column) + at
                span = Span(begin, begin + len(d), line, col, line, col + len(d), self.file)
                raise _too_many_digits(d, span)
            dims.append(int(d))
            at += len(d) + 1
        return ir.Shape(tuple(dims), self._s(c[0]))

    def name(self, c: list[Token]) -> ir.Name:
        return ir.Name(str(c[0]), self._s(c[0]))

    def call(self, c: list[Any]) -> ir.Call:
        head, *args, close = c
        span = _join(self._s(head), self._s(close))
        args_ = tuple(_as_arg(a) for a in args if a is not None)
        node = ir.Call(str(head)[:-1], args_, span, _name_span(head, self.file))
        return self._nest(node, [a.value for a in args_])

    def tuple_lit(self, c: list[Any]) -> ir.Tuple:
        items = tuple(v for v in c[1:-1] if v is not None)
        return self._nest(ir.Tuple(items, _join(self._s(c[0]), self._s(c[-1]))), items)

    def list_lit(self, c: list[Any]) -> ir.List:
        items = tuple(v for v in c[1:-1] if v is not None)
        return self._nest(ir.List(items, _join(self._s(c[0]), self._s(c[-1]))), items)

    def pair(self, c: list[Any]) -> ir.Arg:
        key, value = c
        return ir.Arg(value, str(key), _join(self._s(key), value.span), self._s(key))

    def map_lit(self, c: list[Any]) -> ir.Map:
        items = tuple(v for v in c[1:-1] if v is not None)
        node = ir.Map(items, _join(self._s(c[0]), self._s(c[-1])))
        return self._nest(node, [a.value for a in items])

    def kwarg(self, c: list[Any]) -> ir.Arg:
        key, value = c
        return ir.Arg(value, str(key), _join(self._s(key), value.span), self._s(key))

    # network
    def layer(self, c: list[Any]) -> ir.Layer:
        head, *args = c
        args_ = tuple(_as_arg(a) for a in args)
        span = _join(self._s(head), args_[-1].span if args_ else None)
        return self._nest(
            ir.Layer(str(head), args_, span=span, name_span=self._s(head)),
            [a.value for a in args_],
            bracket=False,
        )

    def call_layer(self, c: list[Any]) -> ir.Layer:
        head = c[0]
        close_at = next(i for i, x in enumerate(c) if isinstance(x, Token) and x.type == "RPAR")
        inner = [x for x in c[1:close_at] if x is not None]
        after = [_as_arg(a) for a in c[close_at + 1 :]]
        args = [
            x if isinstance(x, ir.Arg) else ir.Arg(x, span=x.span)
            for x in inner
            if not isinstance(x, ir.Chain)
        ] + after
        body = tuple(x for x in inner if isinstance(x, ir.Chain))
        end = after[-1].span if after else self._s(c[close_at])
        node = ir.Layer(
            str(head)[:-1],
            tuple(args),
            body,
            True,
            _join(self._s(head), end),
            _name_span(head, self.file),
        )
        return self._nest(node, [x.value if isinstance(x, ir.Arg) else x for x in [*inner, *after]])

    def chain(self, c: list[Any]) -> ir.Chain:
        steps = tuple(x for x in c if not isinstance(x, Token))
        chain = ir.Chain(steps, _join(steps[0].span, steps[-1].span))
        if chain.span is not None:
            self.chains[chain.span.start] = chain
        return self._nest(chain, steps, bracket=False)

    def group(self, c: list[Any]) -> ir.Repeat:
        open_, chain, close, *rest = c
        times_tok = rest[0] if rest else None
        if isinstance(times_tok, ir.Call):  # `* choice(1, 2)`: a search space's count
            span = _join(self._s(open_), times_tok.span)
            node = ir.Repeat(chain, 1, span, times_tok.span, times_tok)
            return self._nest(node, [chain, times_tok])
        span = _join(self._s(open_), self._s(times_tok) if times_tok else self._s(close))
        node = ir.Repeat(
            chain,
            _int(times_tok, self.file) if times_tok else 1,
            span,
            self._s(times_tok) if times_tok else None,
        )
        return self._nest(node, [chain])

    def times_call(self, c: list[Any]) -> ir.Call:
        return self.call(c)

    def branches(self, c: list[Any]) -> ir.Branches:
        chains = tuple(x for x in c if isinstance(x, ir.Chain))
        close = next(x for x in c if isinstance(x, Token) and x.type == "RSQB")
        after = c[c.index(close) + 1 :]
        merge = after[0] if after and isinstance(after[0], Token) else None
        args = tuple(_as_arg(a) for a in after[1:] if a is not None)
        end = args[-1].span if args else self._s(merge) if merge else self._s(close)
        span = _join(self._s(c[0]), end)
        node = ir.Branches(
            chains, str(merge) if merge else None, span, self._s(merge) if merge else None, args
        )
        return self._nest(node, [*chains, *(a.value for a in args)])

    # program
    def setting(self, c: list[Any]) -> ir.Setting:
        key, value = c
        return ir.Setting(str(key), value, _join(self._s(key), value.span), self._s(key))

    def params(self, c: list[Any]) -> tuple[Token, ...]:
        return tuple(t for t in c if t is not None)

    def block(self, c: list[Any]) -> ir.BlockDef:
        keyword, head, *rest = c
        params: tuple[Token, ...] = rest[0] if len(rest) > 1 else ()
        body: ir.Chain = c[-1]
        name = str(head)[:-1] if head.type == "CALL_NAME" else str(head)
        span = _join(self._s(keyword), body.span)
        return ir.BlockDef(
            name, tuple(str(p) for p in params), body, span, _name_span(head, self.file)
        )

    def binding(self, c: list[Any]) -> ir.Binding:
        *head, name, chain = c
        keyword = head[0] if head else None
        kind = str(keyword) if keyword is not None else "tensor"
        span = _join(self._s(keyword) if keyword is not None else self._s(name), chain.span)
        return ir.Binding(str(name), chain, kind, span, self._s(name))

    def use(self, c: list[Any]) -> ir.Use:
        keyword, path = c
        text = self.string([path])
        return ir.Use(text.value, _join(self._s(keyword), text.span), text.span)

    def start(self, c: list[Any]) -> ir.Program:
        uses = tuple(x for x in c if isinstance(x, ir.Use))
        settings = tuple(x for x in c if isinstance(x, ir.Setting))
        blocks = tuple(x for x in c if isinstance(x, ir.BlockDef))
        bindings = tuple(x for x in c if isinstance(x, ir.Binding))
        chains = [x for x in c if isinstance(x, ir.Chain)]
        _binding_after_network(c)
        if self.prior is not None and chains:
            chains.insert(0, self.prior)
        if len(chains) > 1:
            first, second = chains[0], chains[1]
            help_ = "join the layers with `->` (it may start the next line)"
            step = first.steps[0]
            if len(first.steps) == 1 and isinstance(step, ir.Layer) and not step.call:
                if step.name in self.setting_names:
                    value = " ".join(_arg_text(a) for a in step.args) or "..."
                    help_ = f"`{step.name}` is a setting: write `{step.name}: {value}`"
            raise NetdslSyntaxError(
                "a program has one network, and this line starts a second one",
                second.steps[0].span,
                label="second network starts here",
                expected="`->` between layers",
                code="NDL002",
                notes=[Note(first.span, "the network started here")],  # type: ignore[arg-type]
                help=help_,
            )
        return ir.Program(
            settings,
            blocks,
            chains[0] if chains else None,
            self.file,
            bindings=bindings,
            uses=uses,
        )


def _binding_after_network(items: list[Any]) -> None:
    """The unnamed chain of a graph comes last: a binding after it is an error at the binding
    (the unnamed chain is the network's output, so nothing named may follow it)."""
    network = next((x for x in items if isinstance(x, ir.Chain)), None)
    if network is None:
        return
    after = items[items.index(network) + 1 :]
    late = next((x for x in after if isinstance(x, ir.Binding)), None)
    if late is not None:
        raise NetdslSyntaxError(
            f"`{late.name}` is named after the unnamed chain, which must come last",
            late.name_span,
            label="named after the output",
            expected="every `NAME = ...` before the program's unnamed chain",
            code="NDL002",
            notes=[Note(network.span, "the unnamed chain (the output) is here")],  # type: ignore[arg-type]
            help="move this line above the unnamed chain, or name that chain `output NAME = ...`",
        )


def _clip(text: str, keep: int = 12) -> str:
    """A long literal shortened for a message: its first and last digits."""
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep:]}"


def _too_many_digits(digits: str, span: Span) -> NetdslArgumentError:
    n = len(digits.lstrip("-"))
    return NetdslArgumentError(
        f"the number `{_clip(digits)}` is too large: {n:,} digits, at most {MAX_INT_DIGITS}",
        span,
        label="too many digits",
        code="NDL005",
        help="every layer parameter fits in 18 digits; was a character left out between two numbers?",
    )


def _int(tok: Token, file: str | None) -> int:
    """An integer literal's value; more than :data:`MAX_INT_DIGITS` digits is an error at it
    (Python itself refuses 4,301 or more, and no parameter needs 19)."""
    text = str(tok)
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _too_many_digits(text, _tok_span(tok, file))
    return int(text)


def _arg_text(arg: ir.Arg) -> str:
    from .formatter import format_value

    return format_value(arg)


def _name_span(tok: Token, file: str | None) -> Span:
    """The span of a call's name, without its ``(``."""
    s = _tok_span(tok, file)
    return Span(s.start, s.end - 1, s.line, s.column, s.end_line, s.end_column - 1, file)


def _as_arg(x: Any) -> ir.Arg:
    return x if isinstance(x, ir.Arg) else ir.Arg(x, span=x.span)


# --- the parser -------------------------------------------------------------------------------

_lock = threading.Lock()
_parser: tuple[Lark, _ToIR] | None = None


#: the LALR tables of grammar/netdsl.lark, built ahead of time (``python -m netdsl.lang.parser``) and
#: kept as plain JSON data: loading them takes a few ms where building them takes ~90 ms, in
#: every `netdsl check`. They are used only when their key (a hash of the grammar's text and
#: the installed Lark's version) matches; otherwise the parser is built from the grammar.
TABLES = Path(__file__).with_name("_grammar_tables.json")
_OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "contextual", "maybe_placeholders": True}
#: tags of the JSON form for what JSON has no word for: tuples, and dicts keyed by integers
_TUPLE, _PAIRS = "\u0000tuple", "\u0000pairs"


def _grammar_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _tables_key(text: str) -> str:
    """What the tables were built from: the grammar's text and the Lark version."""
    return hashlib.sha256(f"{lark_version}\0{text}".encode()).hexdigest()


def _to_json(x: Any) -> Any:
    if isinstance(x, dict):
        if all(isinstance(k, str) and not k.startswith("\0") for k in x):
            return {k: _to_json(v) for k, v in x.items()}
        return {_PAIRS: [[_to_json(k), _to_json(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {_TUPLE: [_to_json(v) for v in x]}
    if isinstance(x, list):
        return [_to_json(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"the LALR tables hold a {type(x).__name__}, which JSON cannot carry")


def _json_hook(d: dict[str, Any]) -> Any:
    """``json.loads``'s object hook: the tagged tuples and int-keyed dicts, decoded as read
    (one pass in the JSON decoder instead of a second walk over the tables)."""
    if _TUPLE in d:
        return tuple(d[_TUPLE])
    if _PAIRS in d:
        return dict(d[_PAIRS])
    return d


def _load_tables(text: str, transformer: _ToIR, path: Path | None = None) -> Lark | None:
    """The packaged tables, if they were built from this very grammar with this Lark; else None.

    The file is plain JSON (never unpickled); its key is checked before anything in it is used,
    and a file that does not load for any reason is ignored (the caller builds the parser)."""
    try:
        blob = json.loads((path or TABLES).read_bytes(), object_hook=_json_hook)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(blob, dict) or blob.get("key") != _tables_key(text):
        return None
    try:
        # the loader Lark's own standalone parsers use; same Lark version as wrote it (the key)
        loaded: Lark = Lark._load_from_dict(  # type: ignore[no-untyped-call]  # Lark's loader is untyped
            blob["data"], blob["memo"], transformer=transformer
        )
        return loaded
    except Exception:  # noqa: BLE001 - a damaged file is no reason to fail: build instead
        return None


def _tables_blob(text: str) -> dict[str, Any]:
    lark = Lark(text, **_OPTIONS)
    data, memo = lark.memo_serialize([TerminalDef, Rule])
    blob = {
        "key": _tables_key(text),
        "lark": lark_version,
        "grammar": _grammar_hash(text),
        "data": _to_json(data),
        "memo": _to_json(memo),
    }
    back = json.loads(
        json.dumps({"data": blob["data"], "memo": blob["memo"]}), object_hook=_json_hook
    )
    if back["data"] != data or back["memo"] != memo:  # pragma: no cover
        raise RuntimeError("the LALR tables do not survive a JSON round trip")
    return blob


def write_tables(path: Path = TABLES) -> Path:
    """Build the LALR tables from the grammar and save them (JSON) next to this module."""
    blob = _tables_blob(grammar_text())
    path.write_text(
        json.dumps(blob, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8"
    )
    return path


def _get_parser() -> tuple[Lark, _ToIR]:
    global _parser
    if _parser is None:
        transformer = _ToIR()
        text = grammar_text()
        lark = _load_tables(text, transformer) or Lark(text, transformer=transformer, **_OPTIONS)
        _parser = (lark, transformer)
    return _parser


def parse(
    text: str | bytes, filename: str | None = None, *, setting_names: Collection[str] = ()
) -> ir.Program:
    """Parse netdsl source into an IR :class:`~netdsl.lang.ir.Program` (syntax only, no registry).

    Raises a :class:`~netdsl.errors.NetdslError` with a span on any bad input: a
    ``NetdslSyntaxError`` for text that is not a program (bytes that are not UTF-8 included),
    ``NetdslArgumentError`` for a number literal too large, ``NetdslLimitError`` for nesting
    deeper than :data:`MAX_DEPTH` or input over :data:`MAX_INPUT_BYTES`. ``setting_names`` are
    the settings' keys (the language knows no table of them; :func:`netdsl.parse` passes them),
    so a line such as ``epochs 10`` gets the help "`epochs` is a setting".
    """
    if isinstance(text, (bytes, bytearray)):
        check_size(len(text), filename)
        source = decode(text, filename)
    else:
        if len(text) > MAX_INPUT_BYTES:  # every character is at least one byte: no need to encode
            check_size(len(text), filename)
        elif len(text) > MAX_INPUT_BYTES // 4:  # only then can its UTF-8 form be over the limit
            check_size(len(text.encode("utf-8", "surrogatepass")), filename)
        source = text
    if source.startswith("\ufeff"):
        source = source[1:]  # editors hide the BOM: lines and columns count from after it
    check_steps(source, filename)
    program = _parse_reporting_all(source, filename, setting_names)
    return ir.Program(
        program.settings,
        program.blocks,
        program.network,
        filename,
        tuple(_comments(source, filename)),
        source,
        program.bindings,
        program.uses,
    )


def check_size(size: int, filename: str | None = None) -> None:
    """Refuse input over :data:`MAX_INPUT_BYTES` (``size`` in bytes; the CLI passes what it
    read, which is at most one byte over, so it never holds a huge file whole)."""
    if size > MAX_INPUT_BYTES:
        raise NetdslLimitError(
            f"the input is too large: over {MAX_INPUT_BYTES // (1024 * 1024)} MB "
            f"({MAX_INPUT_BYTES:,} bytes is the limit)",
            Span(0, 0, 1, 1, 1, 1, filename),
            code="NDL012",
            help="a netdsl program is a few lines; is this the right file?",
        )


#: what separates two steps (``->``, ``|``), and what hides one (a comment, a string)
_SEPARATOR = re.compile(r'->|\||#[^\n]*|"(?:[^"\\\n]|\\.)*"?')


def may_pass_step_limit(source: str) -> bool:
    """Whether ``source`` could write more than :data:`MAX_STEPS` steps: a count of its ``->``
    and ``|`` in C (about 1 ms a megabyte); only then does :func:`check_steps` scan it."""
    return source.count("->") + source.count("|") >= MAX_STEPS


def check_steps(source: str, filename: str | None = None) -> None:
    """Refuse a program writing more than :data:`MAX_STEPS` steps, at the separator that starts
    the first step past it, before any parsing. Each ``->`` or ``|`` outside comments and
    strings starts one more step, so their count is a lower bound of the steps written."""
    if not may_pass_step_limit(source):
        return
    seen = 0
    for m in _SEPARATOR.finditer(source):
        if m.group()[0] in '#"':
            continue
        seen += 1
        if seen >= MAX_STEPS:  # the steps before this separator and the one it starts
            span = Span.point(source, m.start(), filename, len(m.group()))
            err = NetdslLimitError(
                f"the program is too long: more than {MAX_STEPS:,} steps",
                span,
                label=f"step {MAX_STEPS + 1:,} (at least) starts here",
                code="NDL012",
                help="write a large network with repetition `(...) * N` or blocks; "
                "is this the right file?",
            )
            err.source = source
            raise err


#: syntax errors reported from one file before giving up
MAX_SYNTAX_ERRORS = 20
_NOT_NL = re.compile(r"[^\n]")
_SETTING_LINE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[ \t]*:")


def _parse_reporting_all(
    source: str, filename: str | None, setting_names: Collection[str] = ()
) -> ir.Program:
    """Parse; on a syntax error, blank out everything up to the end of the statement it is in
    and go on, so one pass reports the syntax errors of every statement (one each), not only
    the first. Blanking the statements already parsed too keeps the work linear: each retry
    parses only what follows the last error (a blank prefix is one token)."""
    errors: list[NetdslError] = []
    text = source
    prior: ir.Chain | None = None  # a network in the blanked part, for the "second network" error
    blanked = 0  # text[:blanked] is blank (and was looked through for a network)
    while True:
        err: NetdslError
        with _lock:
            lark, transformer = _get_parser()
            transformer.reset(filename, prior, setting_names)
            try:
                program: ir.Program = lark.parse(text)  # type: ignore[assignment]  # the transformer's
                break
            except UnexpectedInput as e:
                err = _syntax_error(e, text, filename)  # brackets of blanked statements are gone
            except (NetdslSyntaxError, NetdslArgumentError, NetdslLimitError) as e:
                err = e
            except RecursionError:  # pragma: no cover - the nesting limit keeps us far from this
                err = NetdslLimitError(
                    "program is nested too deeply", Span.point(source, 0, filename), code="NDL012"
                )
            chains = transformer.chains
        err.source = source
        errors.append(err)
        start, end = _statement(text, err.span.start if err.span else 0, blanked)
        if err.code not in ("NDL001", "NDL002", "NDL005") or err.message.startswith(
            "unclosed string"
        ):
            break  # too deep, or a string running on: what follows would only echo this error
        if end <= start or len(errors) >= MAX_SYNTAX_ERRORS or not text[start:end].strip():
            break
        prior = prior or _network_before(text, blanked, start, chains)
        text = (
            text[:blanked] + _NOT_NL.sub(" ", text[blanked:end]) + text[end:]
        )  # the rest is blank
        blanked = end
    if errors:
        error = errors[0] if len(errors) == 1 else NetdslErrors(errors)
        try:
            raise error
        finally:  # the error's traceback keeps this frame: it must not lead back to the error
            del error, errors, err
    return program


def _network_before(
    text: str, since: int, upto: int, chains: dict[int, ir.Chain]
) -> ir.Chain | None:
    """The network among the statements in ``text[since:upto]`` (parsed whole before the
    error; ``since`` starts a line), if any: the chain that starts where a statement that is
    not a setting or a block starts."""
    at, continued = since, False
    for line in text[since:upto].split("\n"):
        code = _code(line)
        if code and not continued and not code.startswith("->"):
            if not _SETTING_LINE.match(code) and not re.match(r"(block|use)\b", code):
                chain = chains.get(at + len(line) - len(line.lstrip(" \t")))
                if chain is not None:
                    return chain
        if code:
            continued = code.endswith("->")
        at += len(line) + 1
    return None


def _code(line: str) -> str:
    """A line without its comment (strings kept), stripped."""
    if '"' not in line:
        return line.split("#", 1)[0].strip()
    out, quoted = [], False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def _statement(text: str, offset: int, floor: int = 0) -> tuple[int, int]:
    """The offsets of the statement (setting, block or network, with its `->` continuation
    lines) holding ``offset``; ``text[:floor]`` (blank, ending at a line break) is not looked at."""
    if 0 < floor <= offset:
        start, end = _statement(text[floor:], offset - floor)
        return start + floor, end + floor
    lines = text.split("\n")
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    k = max(0, min(len(lines) - 1, text.count("\n", 0, min(offset, len(text)))))
    if not _code(lines[k]) and k > 0 and offset >= len(text.rstrip()):
        k = max(
            i for i in range(k + 1) if _code(lines[i]) or i == 0
        )  # error at the end of the file

    def joined(a: int, b: int) -> bool:  # line b continues line a's statement
        return _code(lines[a]).endswith("->") or _code(lines[b]).startswith("->")

    first = k
    while first > 0:
        prev = first - 1
        while prev > 0 and not _code(lines[prev]):
            prev -= 1
        if not _code(lines[prev]) or not joined(prev, first):
            break
        first = prev
    last = k
    while last + 1 < len(lines):
        nxt = last + 1
        while nxt + 1 < len(lines) and not _code(lines[nxt]):
            nxt += 1
        if not _code(lines[nxt]) or not joined(last, nxt):
            break
        last = nxt
    return starts[first], starts[last] + len(lines[last])


def _comments(source: str, file: str | None) -> list[ir.Comment]:
    """Every ``# ...`` comment with its span (strings skipped), for the formatter."""
    out: list[ir.Comment] = []
    if "#" not in source:
        return out
    line, line_start, i, n = 1, 0, 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "\n":
            line, line_start = line + 1, i + 1
        elif ch == '"':
            j = i + 1
            while j < n and source[j] not in '"\n':
                j += 2 if source[j] == "\\" else 1
            i = j if j < n and source[j] == "\n" else j + 1
            continue
        elif ch == "#":
            j = source.find("\n", i)
            j = n if j < 0 else j
            text = source[i:j].rstrip("\r \t")
            col = i - line_start + 1
            out.append(
                ir.Comment(text, Span(i, i + len(text), line, col, line, col + len(text), file))
            )
            i = j
            continue
        i += 1
    return out


def decode(data: bytes | bytearray, filename: str | None = None) -> str:
    """UTF-8 bytes to text; a bad byte is a syntax error at its line and column."""
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as e:
        good = bytes(data[: e.start]).decode("utf-8", errors="replace")
        shown = good + "\ufffd" + bytes(data[e.end :]).decode("utf-8", errors="replace")
        span = Span.point(shown, len(good), filename)
        err = NetdslSyntaxError(
            f"the file is not valid UTF-8 (byte 0x{data[e.start]:02x})",
            span,
            label="not UTF-8",
            expected="UTF-8 text",
            code="NDL009",
            help="save the file as UTF-8",
        )
        err.source = shown
        raise err from None


# --- syntax errors in words -------------------------------------------------------------------

_WORDS = {
    "NAME": "a name",
    "CALL_NAME": "a name",
    "INT": "a value",
    "FLOAT": "a value",
    "SHAPE": "a value",
    "STRING": "a value",
    "TRUE": "a value",
    "FALSE": "a value",
    "ARROW": "`->`",
    "_NL": "a new line",
    "$END": "the end of the file",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "EQUAL": "`=`",
    "STAR": "`*`",
    "VBAR": "`|`",
    "BLOCK": "`block`",
    "USE": "`use`",
}
_ORDER = list(dict.fromkeys(_WORDS.values()))
_CLOSERS = {"(": ")", "[": "]"}


def _expected(names: set[str], after: Token | None) -> str:
    if after is not None and after.type in ("ARROW", "VBAR"):
        return "a layer"
    words = {_WORDS.get(n, n) for n in names}
    if after is not None and after.type == "USE":
        return 'a file name in quotes: `use "lib/blocks.net"`'
    if after is not None and after.type == "EQUAL":
        return "a value"
    if "a value" in words:
        words -= {"`(`", "`[`"}
    ordered = [w for w in _ORDER if w in words] + sorted(words - set(_ORDER))
    if len(ordered) > 5:
        ordered = [*ordered[:5], "…"]
    if len(ordered) <= 1:
        return "".join(ordered)
    return ", ".join(ordered[:-1]) + " or " + ordered[-1]


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    if tok.type == "ARROW":
        return "`->`"
    text = str(tok)
    return f"`{text[:-1] if tok.type == 'CALL_NAME' else text}`"


#: arrows people type (or paste from prose) for `->`
_LOOKALIKE_ARROWS = ("\u2192", "\u27f6", "\u2014>", "\u2013>", "=>", "\u21d2", "\u27f9")


def _lookalike_arrow(source: str, pos: int) -> tuple[int, str] | None:
    """The offset and text of an arrow-like sequence at (or ending just after) ``pos``."""
    for arrow in _LOOKALIKE_ARROWS:
        for at in (pos, pos - len(arrow) + 1):
            if at >= 0 and source.startswith(arrow, at):
                return at, arrow
    return None


def _arrow_error(source: str, found: tuple[int, str], file: str | None) -> NetdslSyntaxError:
    at, arrow = found
    err = NetdslSyntaxError(
        f"`{arrow}` is not an arrow in netdsl: write `->`",
        Span.point(source, at, file, len(arrow)),
        label="write `->` here",
        expected="`->` between layers",
        code="NDL002",
        help="layers are joined with the two characters `-` and `>`",
    )
    err.source = source
    return err


def _syntax_error(e: UnexpectedInput, source: str, file: str | None) -> NetdslSyntaxError:
    pos = getattr(e, "pos_in_stream", None)
    tok_ = getattr(e, "token", None)
    if isinstance(tok_, Token) and tok_.start_pos is not None:
        pos = tok_.start_pos
    if (
        isinstance(pos, int)
        and pos < len(source)
        and source[pos] in "\u2192\u27f6\u2014\u2013=>\u21d2\u27f9"
    ):
        arrow = _lookalike_arrow(source, pos)
        if arrow is not None:
            return _arrow_error(source, arrow, file)
    if isinstance(e, UnexpectedCharacters):
        at = _i(e.pos_in_stream)
        ch = source[at] if at < len(source) else ""
        span = Span.point(source, at, file)
        words = _expected(set(e.allowed or ()), None)
        words = words if words.count(",") < 2 else ""  # a long list of tokens helps nobody here
        shown = repr(ch)[1:-1] if not ch.isprintable() or ch in "\t" else ch
        if ch == '"':
            err = NetdslSyntaxError(
                'unclosed string: it has no closing `"` on its line',
                span,
                label="the string starts here",
                code="NDL002",
                help='close it with `"` before the end of the line',
            )
        else:
            err = NetdslSyntaxError(
                f"unexpected character `{shown}`",
                span,
                label="not part of the language",
                expected=words or None,
                code="NDL002",
                notes=_unclosed(source, at, file),
            )
    else:
        tok: Token | None = getattr(e, "token", None)
        if isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END":
            last = _previous_token(e)
            pos = (
                last.end_pos
                if last is not None and last.end_pos is not None
                else len(source.rstrip())
            )
            span = Span.point(source, pos, file, width=0)
            found = "the end of the file"
        else:
            skip = len(str(tok)) - 2 if tok.type == "ARROW" else 0
            if tok.type == "_NL":
                span = Span.point(source, _i(tok.start_pos), file, width=0)
            else:
                span = _tok_span(tok, file, skip)
            found = _describe_token(tok)
        prev = _previous_token(e)
        notes = _unclosed(source, span.start, file)
        names = set(getattr(e, "expected", ()) or ())
        if notes:  # inside `[` a `)` cannot be what is missing, and the other way round
            names.discard("RPAR" if notes[0].label[1] == "[" else "RSQB")
        expected = _expected(names, prev)
        if tok is not None and tok.type == "COMMA" and not notes:
            err = NetdslSyntaxError(
                "unexpected `,` outside brackets",
                span,
                label="not inside `(...)` or `[...]`",
                help="separate a layer's arguments with spaces (`dense 64 relu`), layers with `->`",
            )
            err.source = source
            return err
        msg = f"expected {expected}, found {found}" if expected else f"unexpected {found}"
        if notes and ("`)`" in expected or "`]`" in expected):
            msg = f"unclosed `{notes[0].label[1]}`: " + msg
        err = NetdslSyntaxError(
            msg,
            span,
            label=f"expected {expected}" if expected else None,
            expected=expected or None,
            notes=notes,
        )
    err.source = source
    return err


def _previous_token(e: UnexpectedInput) -> Token | None:
    state = getattr(e, "state", None) or getattr(
        getattr(e, "interactive_parser", None), "parser_state", None
    )
    stack = getattr(state, "value_stack", None)
    for last in reversed(stack or ()):
        if isinstance(last, Token) and last.type == "_NL":
            continue  # `->` then a line break: what came before the break decides
        return last if isinstance(last, Token) else None
    return None


_BRACKETY = re.compile(r'[#"()\[\]]')


def _unclosed(source: str, upto: int, file: str | None) -> list[Note]:
    """Notes for brackets opened before ``upto`` and not closed (strings and comments skipped)."""
    stack: list[int] = []
    i, n = 0, min(upto, len(source))
    while i < n:
        m = _BRACKETY.search(source, i, n)  # jump over the plain text (a blanked prefix is long)
        if m is None:
            break
        i = m.start()
        ch = source[i]
        if ch == "#":
            j = source.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            j = i + 1
            while j < n and source[j] not in '"\n':
                j += 2 if source[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "([":
            stack.append(i)
        elif ch in ")]" and stack:
            stack.pop()
        i += 1
    return [
        Note(Span.point(source, p, file), f"`{source[p]}` opened here")
        for p in reversed(stack[-1:])
    ]


if __name__ == "__main__":  # python -m netdsl.lang.parser: rebuild the packaged LALR tables
    print(f"wrote {write_tables()}")
