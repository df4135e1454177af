"""The language server on graph programs: a named tensor, output, shared chain or input
resolves to its definition, hovers with its shape, renames everywhere it is written (and
refuses a rename that would break the program), and completion offers the names where a step
may be one. In process on issue 22's examples and a hand-made graph, and end to end over a
real LSP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")

import test_lsp as base
from graph_programs import source
from lsprotocol import types as lsp

from netdsl.tools.lsp_features import RenameRefused, analyze
from netdsl.vocab.registry import Registry

URI = base.URI


def _analysis(registry: Registry, name: str, folder: Path) -> tuple[Any, str]:
    text, _ = source(name, folder)
    a = analyze(URI, text, registry)
    assert a.model is not None, a.errors
    return a, text


def _at(a: Any, text: str, needle: str, inner: int = 0) -> lsp.Position:
    """The position ``inner`` characters into the first ``needle`` of the program's code
    (comments skipped: their words are no names)."""
    code = max(text.rfind("\n#"), 0)
    code = text.index("\n", code + 1) if code else 0
    while text[code + 1 :].startswith("#"):
        code = text.index("\n", code + 1)
    return a.pos.position(text.index(needle, code) + inner)


#: program, where the cursor is (needle, characters into it), name, hover's shape, definition
CASES = [
    ("unet", ("[d2 ->", 1), "d2", "(None, 14, 14, 32)", "d2 = ["),
    ("unet", ("e1 -> maxpool", 0), "e1", "(None, 28, 28, 16)", "e1 = conv2d"),
    ("siamese", ("a -> tower", 5), "tower", "108,736 parameters (once)", "tower = flatten"),
    ("siamese", ("[ta |", 1), "ta", "(None, 64)", "ta = a"),
    ("siamese", ("a -> tower", 0), "a", "(None, 28, 28, 1)", "mnist("),
    ("multitask", ("trunk -> dense 10", 2), "trunk", "(None, 64)", "trunk = conv2d"),
    ("multitask", ("digit = ", 0), "digit", "(None, 10)", "digit = trunk"),
    ("tiny", ("tb -> dense 1", 0), "tb", "(None, 4)", "tb = b"),
    ("tiny", ("b -> t", 5), "t", "(None, 4)", "t = dense 4"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_hover_and_definition(registry: Registry, tmp_path: Path, case: tuple[Any, ...]) -> None:
    name, (needle, inner), word, shape, defined = case
    a, text = _analysis(registry, name, tmp_path)
    at = _at(a, text, needle, inner)
    hover = a.hover(at)
    assert hover is not None and f"**{word}**" in hover.contents.value
    assert shape in hover.contents.value
    loc = a.definition(at)
    assert loc is not None
    start, end = a.pos.offset(loc.range.start), a.pos.offset(loc.range.end)
    line = text[text.rfind("\n", 0, start) + 1 : text.find("\n", start)]
    assert defined in line  # the binding's line (an input's: the dataset's)
    assert text[start:end] == word or (word == "a" and text[start:].startswith("mnist("))


@pytest.mark.parametrize(
    "name, needle, old, new, count",
    [
        ("unet", "e2 = ", "e2", "enc2", 3),  # the definition, and two uses
        ("siamese", "shared tower", "tower", "twin", 3),
        ("multitask", "output odd", "odd", "parity", 4),  # and loss, metrics, loss_weights keys
        ("tiny", "ta = ", "ta", "left", 2),
    ],
    ids=["unet", "siamese", "multitask", "tiny"],
)
def test_rename_changes_the_definition_and_every_use(
    registry: Registry, tmp_path: Path, name: str, needle: str, old: str, new: str, count: int
) -> None:
    a, text = _analysis(registry, name, tmp_path)
    at = _at(a, text, needle, needle.index(old) + 1)
    assert a.prepare_rename(at) is not None
    edit = a.rename(at, new)
    edits = edit.changes[URI]
    assert len(edits) == count and {e.new_text for e in edits} == {new}
    offsets = [(a.pos.offset(e.range.start), a.pos.offset(e.range.end)) for e in edits]
    assert all(text[s:e] == old for s, e in offsets)
    renamed = text
    for s, e in sorted(offsets, reverse=True):
        renamed = renamed[:s] + new + renamed[e:]
    again = analyze(URI, renamed, registry)
    if name != "multitask":  # an output renamed no longer matches the data's target: an error
        assert again.model is not None, again.errors
        assert again.model.total_params == a.model.total_params


@pytest.mark.parametrize(
    "new, why",
    [("tb", "already a name"), ("dense", "layer's or a block's"), ("shared", "not a name")],
    ids=["taken", "layer", "keyword"],
)
def test_a_rename_that_breaks_the_program_is_refused(
    registry: Registry, tmp_path: Path, new: str, why: str
) -> None:
    a, text = _analysis(registry, "siamese", tmp_path)
    with pytest.raises(RenameRefused, match=why):
        a.rename(_at(a, text, "ta = ", 1), new)
    assert a.prepare_rename(_at(a, text, "a -> tower", 0)) is None  # the data names inputs


def _complete(registry: Registry, text: str, inputs: tuple[str, ...] = ()) -> list[str]:
    at = text.index("¦")
    text = text.replace("¦", "")
    a = analyze(URI, text, registry, known_inputs=inputs)
    return [i.label for i in a.completion(a.pos.position(at))]


GRAPH = "shared t = dense 4 relu\nh = a -> dense 3\n"


@pytest.mark.parametrize(
    "text, has, lacks",
    [
        (GRAPH + "z = ¦", {"h", "t", "a", "b", "dense"}, {"z", "epochs:"}),
        (GRAPH + "z = h -> ¦", {"t", "dense"}, {"h", "a"}),
        (GRAPH + "z = [h | ¦", {"h", "a", "t", "dense"}, set()),
        (GRAPH + "output y = h -> dense 2 -> ¦", {"t", "dense"}, {"h"}),
        (GRAPH + "z = residual(¦", {"dense", "t"}, {"h", "a"}),
        (GRAPH + "¦", {"output", "shared", "h", "a", "epochs:", "dense"}, set()),
        ("h = ¦\nk = a -> dense 1\n", {"a", "dense"}, {"k", "h"}),  # only names above
    ],
    ids=["binding", "after-arrow", "branch", "output", "wrapper", "statement", "above-only"],
)
def test_completion_offers_graph_names_where_a_step_may_be_one(
    registry: Registry, text: str, has: set[str], lacks: set[str]
) -> None:
    got = set(_complete(registry, text, ("a", "b")))
    assert has <= got, has - got
    assert not (lacks & got), lacks & got


def test_end_to_end_over_a_real_client(tmp_path: Path) -> None:
    text, _ = source("siamese", tmp_path)
    lines = text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("tb = "))
    use = next(i for i, line in enumerate(lines) if line.startswith("[ta | tb]"))
    results: dict[str, Any] = {}

    async def scenario(s: base.Session) -> None:
        c = s.client
        base.open_doc(s, text)
        results["diagnostics"] = await s.published(URI, 1)
        at = lsp.Position(use, 6)  # on `tb` in `[ta | tb]`
        results["hover"] = await c.text_document_hover_async(lsp.HoverParams(base.doc(), at))
        results["definition"] = await c.text_document_definition_async(
            lsp.DefinitionParams(base.doc(), at)
        )
        results["prepare"] = await c.text_document_prepare_rename_async(
            lsp.PrepareRenameParams(base.doc(), at)
        )
        results["rename"] = await c.text_document_rename_async(
            lsp.RenameParams(base.doc(), at, "right")
        )
        results["refused"] = await c.text_document_rename_async(
            lsp.RenameParams(base.doc(), at, "ta")
        )
        # a line being typed does not check: the inputs the last check found are offered
        end = len(lines)
        base.change(s, 2, (end, 0), (end, 0), "z = ")
        await s.published(URI, 2)
        results["typing"] = await c.text_document_completion_async(
            lsp.CompletionParams(base.doc(), lsp.Position(end, 4))
        )

    session = base.run_session(scenario)
    assert not results["diagnostics"]
    assert "(None, 64)" in results["hover"].contents.value
    assert results["definition"].range.start == lsp.Position(row, 0)
    assert results["prepare"] is not None
    edits = results["rename"].changes[URI]
    assert sorted((e.range.start.line, e.range.start.character) for e in edits) == [
        (row, 0),
        (use, 6),
    ]
    assert results["refused"] is None
    assert any("already a name" in m.message for m in session.messages)
    assert {"a", "b", "ta", "tb", "tower"} <= set(base.labels(results["typing"]))
