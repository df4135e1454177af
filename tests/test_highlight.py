"""Highlighting: the Pygments lexer (examples and README blocks lex without error tokens, names get
the right token types, the entry point is declared) and the VS Code extension's files."""

from __future__ import annotations

import json
import re
from importlib import import_module
from pathlib import Path

import pytest
import tomllib

pygments = pytest.importorskip("pygments")

from conftest import EXAMPLES, ROOT
from pygments.token import Error, Keyword, Name, Number, Operator

from netdsl.tools.highlight import NetdslLexer

VSCODE = ROOT / "editors" / "vscode"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in NetdslLexer().get_tokens(text) if v.strip()]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.net")), ids=lambda p: p.name)
def test_every_example_lexes_without_error_tokens(path: Path) -> None:
    toks = tokens(path.read_text())
    assert [v for t, v in toks if t is Error] == []
    assert "".join(v for _, v in NetdslLexer().get_tokens(path.read_text())) == path.read_text()


def test_readme_netdsl_blocks_use_the_lexer() -> None:
    readme = [
        body for lang, body in FENCE.findall((ROOT / "README.md").read_text()) if lang == "netdsl"
    ]
    docs = [
        body
        for lang, body in FENCE.findall((ROOT / "docs" / "plugins.md").read_text())
        if lang == "netdsl"
    ]
    assert readme and docs
    blocks = readme + docs
    for body in blocks:
        assert [v for t, v in tokens(body) if t is Error] == [], body


def test_token_types() -> None:
    text = (
        "dataset: mnist\nblock conv(f) = conv2d f 3x3 relu same\n"
        "conv(32) -> dense 64 l2(0.01) use_bias=false -> [dense 3 | dense 4] concat  # done\n"
    )
    toks = tokens(text)
    assert (Name.Attribute, "dataset") in toks
    assert (Keyword.Declaration, "block") in toks and (Name.Variable, "f") in toks
    assert (Name.Class, "conv2d") in toks and (Name.Class, "dense") in toks
    assert (Name.Builtin, "relu") in toks and (Name.Function, "l2") in toks
    assert (Number.Integer, "3x3") in toks and (Number.Float, "0.01") in toks
    assert (Name.Attribute, "use_bias") in toks and (Keyword.Constant, "false") in toks
    assert any(t is Operator and v.strip() == "->" for t, v in toks)


def test_bad_characters_are_error_tokens() -> None:
    assert [v for t, v in tokens("dense 64 $ relu") if t is Error] == ["$"]


def test_the_entry_point_is_declared_and_resolves() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = meta["project"]["entry-points"]["pygments.lexers"]["netdsl"]
    module, _, attr = target.partition(":")
    assert getattr(import_module(module), attr) is NetdslLexer
    assert "pygments" in " ".join(meta["project"]["optional-dependencies"]["highlight"])


def test_vscode_extension_files() -> None:
    package = json.loads((VSCODE / "package.json").read_text())
    [language] = package["contributes"]["languages"]
    assert language["id"] == "netdsl" and ".net" in language["extensions"]
    [grammar] = package["contributes"]["grammars"]
    tm = json.loads((VSCODE / grammar["path"]).read_text())
    assert tm["scopeName"] == grammar["scopeName"] == "source.netdsl"
    assert (VSCODE / package["main"]).is_file()
    assert '"lsp"' in (VSCODE / "extension.js").read_text() or "lsp" in json.dumps(package)
    # every pattern compiles, and the layer pattern finds the layers of an example
    patterns: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            patterns.extend(v for k, v in node.items() if k in ("match", "begin", "end"))
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    collect(tm)
    compiled = [re.compile(p) for p in patterns]
    assert len(compiled) > 10
    layer = re.compile(tm["repository"]["network"]["patterns"][1]["match"])
    line = "conv2d 32 3 relu -> maxpool 2 -> dense 10 softmax"
    assert [m.group(2) for m in layer.finditer(line)] == ["conv2d", "maxpool", "dense"]
