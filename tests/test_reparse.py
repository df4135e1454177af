"""Re-parse after an edit (the language server's keystroke path): always ``parse``'s result.

``reparse(previous, text)`` parses only the edited step of the network and moves the spans of
what follows; these tests compare it with a whole ``parse`` of the same text, spans, comments
and errors included, on chosen edits and on random ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from netdsl.errors import NetdslError
from netdsl.lang import reparse as reparse_mod
from netdsl.lang.parser import parse
from netdsl.lang.reparse import changed_region, reparse

BASE = """# a model
dataset: mnist
optimizer: adam(learning_rate=0.001)
block conv(f) = conv2d f 3 relu same -> maxpool 2

conv(16) -> [conv2d 8 1 relu | maxpool 3 strides=1 same] concat -> flatten
  -> dense 64 relu l2(0.0001)   # wide
  -> dropout 0.5 -> (dense 32 relu) * 2
  -> dense 10 softmax name="out"
epochs: 3  # after the network
"""


def outcome(fn: Callable[[], Any]) -> Any:
    """What a parse gives: the IR as data (spans and comments included), or the errors."""
    try:
        program = fn()
    except NetdslError as e:
        return ("errors", [(x.code, x.message, x.span, x.label, x.help) for x in e.errors])
    return ("program", program.to_dict(), program.source, program.filename)


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


EDITS = [
    ("append-to-name", "dense 64 relu", "dense 64 relux"),
    ("units-same-length", "dense 64 relu", "dense 96 relu"),
    ("units-longer", "dense 64 relu", "dense 1024 relu"),
    ("delete-argument", "dense 64 relu l2(0.0001)", "dense 64 relu"),
    ("inside-a-call", "l2(0.0001)", "l2(0.01)"),
    ("new-step", "dropout 0.5 ->", "dropout 0.5 -> dense 8 ->"),
    ("first-step", "conv(16) ->", "conv(32) ->"),
    ("inside-branches", "conv2d 8 1 relu", "conv2d 16 1 relu"),
    ("repeat-count", "* 2", "* 3"),
    ("inside-a-string", 'name="out"', 'name="output"'),
    ("syntax-error", "dropout 0.5", "dropout 0.5 ->"),
    ("unclosed-bracket", "(dense 32 relu)", "(dense 32 relu"),
    ("becomes-a-setting", "-> dense 10 softmax", "-> dense: 10 softmax"),
    ("comment-typed", "dense 64 relu l2", "dense 64 relu # l2"),
    ("quote-typed", "dropout 0.5", 'dropout "0.5'),
    ("line-break-typed", "-> dropout 0.5 ->", "-> dropout\n0.5 ->"),
    ("in-a-block", "maxpool 2", "maxpool 3"),
    ("in-a-setting", "epochs: 3", "epochs: 30"),
    ("step-emptied", "-> flatten\n", "-> \n"),
    ("block-typed", "-> flatten", "-> block x = dense 3"),
    ("arrow-typed-at-the-end", "-> flatten", "-> flatten ->"),
    ("bom", "# a model", "\ufeff# a model"),
    ("nothing", "dense 64", "dense 64"),
]


@pytest.mark.parametrize("old, new", [pytest.param(o, n, id=i) for i, o, n in EDITS])
def test_reparse_gives_what_parse_gives(old: str, new: str) -> None:
    previous = parse(BASE, "m.net")
    text = BASE.replace(old, new, 1)
    assert outcome(lambda: reparse(previous, text, "m.net")) == outcome(
        lambda: parse(text, "m.net")
    )


@pytest.mark.parametrize("newline", [pytest.param("\n", id="lf"), pytest.param("\r\n", id="crlf")])
def test_reparse_gives_what_parse_gives_on_random_edits(newline: str) -> None:
    rng = random.Random(14)
    base = BASE.replace("\n", newline)
    previous = parse(base, "m.net")
    pieces = [
        *'abxyz019 .-_>=(),[]|*"#\n\t',
        "\r\n",
        "relu",
        " -> dense 3",
        "->",
        "  ",
        "e-",
        "é",
        "\u2192",
    ]
    kinds = set()
    for _ in range(400):
        i = rng.randrange(len(base) + 1)
        j = min(len(base), i + rng.choice([0, 0, 1, 2, 4]))
        text = base[:i] + (rng.choice(pieces) if rng.random() < 0.9 else "") + base[j:]
        got = outcome(lambda: reparse(previous, text, "m.net"))  # noqa: B023 - called here
        want = outcome(lambda: parse(text, "m.net"))  # noqa: B023 - called here
        assert got == want, repr(text[max(0, i - 20) : i + 20])
        kinds.add(want[0])
    assert kinds == {"program", "errors"}  # both paths were exercised


def test_an_edit_in_one_step_parses_only_that_step(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = parse(BASE, "m.net")
    parsed: list[str] = []
    real = reparse_mod.parse

    def spy(text: Any, filename: str | None = None, **options: Any) -> Any:
        parsed.append(text)
        return real(text, filename, **options)

    monkeypatch.setattr(reparse_mod, "parse", spy)
    reparse(previous, edit(BASE, "dense 64 relu", "dense 64 relux"), "m.net")
    assert parsed == ["dense 64 relux l2(0.0001)"]
    parsed.clear()
    text = edit(BASE, "dropout 0.5 -> (dense", "dropout 0.5\n  -> (dense")
    reparse(previous, text, "m.net")
    assert parsed == [text]  # a line break typed: the whole text


@pytest.mark.parametrize(
    "old, new, region",
    [
        pytest.param("abc", "abxc", (2, 2, 3), id="insert"),
        pytest.param("abc", "ac", (1, 2, 1), id="delete"),
        pytest.param("abc", "aXc", (1, 2, 2), id="replace"),
        pytest.param("abc", "abc", (3, 3, 3), id="same"),
        pytest.param("", "x", (0, 0, 1), id="from-empty"),
        pytest.param("aaaa", "aaa", (3, 4, 3), id="repeated"),
    ],
)
def test_changed_region(old: str, new: str, region: tuple[int, int, int]) -> None:
    assert changed_region(old, new) == region
    start, old_end, new_end = region
    assert old[:start] + new[start:new_end] + old[old_end:] == new
