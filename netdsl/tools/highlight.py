"""A Pygments lexer for netdsl (``pygmentize -l netdsl``, Sphinx, MkDocs).

Registered through the ``pygments.lexers`` entry point. It needs no registry: a name where a
step starts (the start of the network, after ``->``, ``(``, ``[`` or ``|``) is a layer, a name
before ``:`` at the start of a line is a setting, before ``=`` a graph's named tensor (after
``output`` or ``shared``, a keyword), other names are arguments.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

__all__ = ["NetdslLexer"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


class NetdslLexer(RegexLexer):
    """netdsl: settings, blocks and a network of layers joined by ``->``."""

    name = "netdsl"
    aliases = ["netdsl"]
    filenames = ["*.net"]
    mimetypes = ["text/x-netdsl"]
    url = "https://github.com/netdsl/netdsl"

    tokens = {
        "common": [
            (r"#[^\n]*", Comment.Single),
            (r"[ \t\r]+", Whitespace),
        ],
        "values": [
            include("common"),
            (r"\b(true|false)\b", Keyword.Constant),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"[0-9]+(x[0-9]+)+(?![A-Za-z0-9_])", Number.Integer),  # a shape, 28x28x1
            (
                r"-?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|-?[0-9]+[eE][-+]?[0-9]+",
                Number.Float,
            ),
            (r"-?[0-9]+", Number.Integer),
            (rf"({_NAME})(\s*)(=)(?!=)", bygroups(Name.Attribute, Whitespace, Operator)),
            (rf"{_NAME}(?=\()", Name.Function),
            (_NAME, Name.Builtin),
            (r"[(),\[\]{}]", Punctuation),
            (r":", Punctuation),  # a mapping's `key: value`
        ],
        "root": [
            (r"\n", Whitespace),
            include("common"),
            (
                rf"^(block)(\s+)({_NAME})",
                bygroups(Keyword.Declaration, Whitespace, Name.Function),
                "blockhead",
            ),
            (rf"^({_NAME})(\s*)(:)", bygroups(Name.Attribute, Whitespace, Punctuation), "setting"),
            (
                rf"^(output|shared)(\s+)({_NAME})(\s*)(=)",
                bygroups(Keyword.Declaration, Whitespace, Name.Variable, Whitespace, Operator),
                "step",
            ),
            (
                rf"^({_NAME})(\s*)(=)",
                bygroups(Name.Variable, Whitespace, Operator),
                "step",
            ),  # a graph's named tensor
            (r"", Text, "step"),
        ],
        "setting": [
            (r"\n", Whitespace, "#pop"),
            include("values"),
        ],
        "blockhead": [
            include("common"),
            (r"[(,)]", Punctuation),
            (_NAME, Name.Variable),
            (r"=", Operator, ("#pop", "step")),
        ],
        # where a step starts: a layer (or block) name, or a bracket that opens steps
        "step": [
            include("common"),
            (r"\n", Whitespace),
            (r"[(\[|]", Punctuation),
            (rf"{_NAME}(?=\()", Name.Class),  # a wrapper or block use: steps or values follow
            (_NAME, Name.Class, ("#pop", "args")),
            (r"", Text, ("#pop", "args")),
        ],
        # after a layer's name: its arguments, until `->`, `|`, a closing bracket or the line's end
        "args": [
            (r"\s*->", Operator, ("#pop", "step")),
            (r"\n(?=[ \t]*(#[^\n]*)?\n?[ \t]*->)", Whitespace),
            (r"\n", Whitespace, "#pop"),
            (r"\|", Punctuation, ("#pop", "step")),
            (r"\*", Operator),
            include("values"),
        ],
    }
