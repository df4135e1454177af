"""``netdsl diagram`` of graph programs: a box per named input and output, a named tensor's name
on the layer that computes it, every arrow of the DAG, and a shared chain's uses marked and tied
by a "same weights" line (issue 22's examples and a hand-made graph)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from graph_programs import EXAMPLE_NAMES, source

import netdsl
from netdsl.tools.diagram import input_id, render, to_dot, to_mermaid

PROGRAMS = (*EXAMPLE_NAMES, "tiny")

#: program -> (inputs, outputs, named tensors drawn, shared uses tied to their first use)
EXPECTED = {
    "unet": (["x"], ["y"], ["e1", "e2", "bottom", "d2", "d1"], 0),
    "siamese": (["a", "b"], ["same"], ["ta", "tb"], 3),
    "multitask": (["x"], ["digit", "odd"], ["trunk"], 0),
    "tiny": (["img", "a", "b"], ["cls", "score"], ["i", "ta", "tb"], 1),
}


def _model(name: str, folder: Path) -> netdsl.CheckedModel:
    text, filename = source(name, folder)
    return netdsl.check(text, filename=filename)


@pytest.mark.parametrize("name", PROGRAMS, ids=PROGRAMS)
def test_dot_draws_the_dag(name: str, tmp_path: Path) -> None:
    model = _model(name, tmp_path)
    inputs, outputs, tensors, shares = EXPECTED[name]
    dot = to_dot(model)
    assert re.findall(r"<b>input (\w+)</b>", dot) == inputs
    assert re.findall(r"<b>output (\w+)</b>", dot) == outputs
    assert re.findall(r"<b>(\w+) = ", dot) == tensors
    assert dot.count('label=" same weights"') == shares
    arrows = re.findall(r"^  (\w+) -> (\w+)( \[style=dotted)?", dot, re.M)
    data = [(a, b) for a, b, dotted in arrows if not dotted]
    # every node is reached by an arrow from each of its inputs: the input boxes by name
    want = {
        (input_id(i) if i < 0 else f"n{i}", f"n{n.index}") for n in model.nodes for i in n.inputs
    }
    want |= {(f"n{o.node}", f"o{k}") for k, o in enumerate(model.outputs)}
    assert set(data) == want
    mermaid = to_mermaid(model)
    assert mermaid.count("-. same weights .-") == shares
    assert mermaid.count("--> o") == len(outputs)


def test_shared_chain_uses_name_it(tmp_path: Path) -> None:
    dot = to_dot(_model("siamese", tmp_path))
    assert dot.count("· shared tower<") == 3  # the first use: its own parameters
    assert dot.count("shared tower again: same weights") == 3  # the second: none of its own


def test_chain_programs_draw_as_before() -> None:
    dot = to_dot(netdsl.check("dense 8 relu -> dense 10 softmax"))
    assert "<b>input (mnist)</b>" in dot and "output" not in dot and "same weights" not in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("name", PROGRAMS, ids=PROGRAMS)
def test_png_renders(name: str, tmp_path: Path) -> None:
    pytest.importorskip("graphviz")
    png = render(_model(name, tmp_path), "png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
