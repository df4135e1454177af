"""``netdsl diagram``: DOT and Mermaid text always; SVG/PNG through Graphviz when ``dot`` is here."""

from __future__ import annotations

import html
import re
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLES

import netdsl
from netdsl.checking.graph import format_shape
from netdsl.tools.cli import main
from netdsl.tools.diagram import (
    DiagramError,
    format_for,
    input_id,
    render,
    to_dot,
    to_mermaid,
)

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.net"))
HAS_DOT = shutil.which("dot") is not None


def _model(path: Path) -> netdsl.CheckedModel:
    return netdsl.check(path.read_text(), filename=path.name)


def _edges(model: netdsl.CheckedModel) -> set[tuple[str, str]]:
    """The data arrows: from the input (a graph's: each named input ``i<k>``) to the outputs
    (a graph's: each ``o<k>``)."""
    edges = {
        (input_id(i) if i < 0 else f"n{i}", f"n{n.index}")
        for n in model.nodes
        for i in (n.inputs or (-1,))
    }
    return edges | {(f"n{o.node}", f"o{k}") for k, o in enumerate(model.outputs)}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_dot_has_every_layer_with_its_arguments_shape_and_parameters(path: Path) -> None:
    model = _model(path)
    dot = to_dot(model)
    assert dot.startswith(f'digraph "{path.name}" {{') and dot.rstrip().endswith("}")
    for n in model.nodes:
        line = next(line for line in dot.splitlines() if line.startswith(f"  n{n.index} [label="))
        assert re.search(rf"<b>(\w+ = )?{re.escape(n.text)}</b>", line)  # a tensor's name first
        if n.shares is None:  # a shared layer's later use has no parameters of its own
            assert f"{format_shape(n.output_shape)} · {n.params:,} param" in line
        assert ("dashed" in line) is n.implicit
    data = re.findall(r"^  (\w+) -> (\w+)(?:;| \[style=dashed)", dot, re.M)  # not "same weights"
    assert set(data) == _edges(model)
    assert f"{model.total_params:,} parameters" in dot


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_mermaid_has_every_layer_and_arrow(path: Path) -> None:
    model = _model(path)
    mmd = to_mermaid(model)
    assert mmd.startswith("flowchart TD\n")
    for n in model.nodes:
        box = rf'  n{n.index}\["(\w+ = )?{re.escape(n.text)}<br/><small>'
        assert re.search(box + re.escape(format_shape(n.output_shape)), mmd)
    assert set(re.findall(r"^  (\w+) (?:-->|-\. skip \.->) (\w+)$", mmd, re.M)) == _edges(model)


def test_branches_merges_residuals_and_adapters_are_marked() -> None:
    inception = to_dot(_model(EXAMPLES / "inception.net"))
    assert len(re.findall(r"-> n9;", inception)) == 4  # four towers into the first concat
    assert "label=<<b>concat (4 branches)</b>" in inception
    residual = _model(EXAMPLES / "residual.net")
    dot, mmd = to_dot(residual), to_mermaid(residual)
    assert dot.count("style=dashed") == 2 and 'label=" skip"' in dot  # the two skip connections
    assert "n1 -. skip .-> n6" in mmd
    seed = _model(EXAMPLES / "mnist.net")
    assert "flatten (implicit)" in to_dot(seed)
    assert re.search(r"class n0 implicit", to_mermaid(seed))


def test_text_is_escaped() -> None:
    model = netdsl.check("dataset: synthetic\ninput: 4\ndense 10 softmax\n", filename='a"<b>.net')
    assert 'digraph "a\\"<b>.net"' in to_dot(model)


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's `dot` is not installed")
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_svg_and_png_are_drawn(path: Path) -> None:
    pytest.importorskip("graphviz")
    model = _model(path)
    svg = render(model, "svg")
    assert isinstance(svg, bytes) and b"<svg" in svg
    text = html.unescape(svg.decode())  # Graphviz writes `<` and `-` as entities
    for n in model.nodes:
        assert n.text in text
    png = render(model, "png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")


def test_missing_graphviz_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(DiagramError) as info:
        render(_model(EXAMPLES / "mnist.net"), "svg")
    assert "pip install 'netdsl[diagram]'" in (info.value.help or "")


def test_missing_dot_program_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("graphviz")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DiagramError) as info:
        render(_model(EXAMPLES / "mnist.net"), "png")
    assert "`dot`" in info.value.message and "apt-get install graphviz" in (info.value.help or "")


@pytest.mark.parametrize(
    "path, fmt, expected",
    [
        ("m.svg", None, "svg"),
        ("m.PNG", None, "png"),
        ("m.dot", None, "dot"),
        ("m.gv", None, "dot"),
        ("m.mmd", None, "mmd"),
        (None, None, "dot"),
        ("m.txt", "mmd", "mmd"),
        (None, "svg", "svg"),
    ],
)
def test_format_from_extension_or_option(path: str | None, fmt: str | None, expected: str) -> None:
    assert format_for(path, fmt) == expected


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    seed = str(EXAMPLES / "mnist.net")
    out = tmp_path / "seed.mmd"
    result = runner.invoke(main, ["diagram", seed, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("flowchart TD")
    again = runner.invoke(main, ["diagram", seed, "-o", str(out)])
    assert again.exit_code == 1 and "exists" in again.output
    assert runner.invoke(main, ["diagram", seed]).output.startswith('digraph "mnist.net"')
    bad = runner.invoke(main, ["diagram", seed, "-o", str(tmp_path / "x.jpg")])
    assert (
        bad.exit_code == 1
        and "cannot draw a .jpg file" in bad.output
        and not (tmp_path / "x.jpg").exists()
    )
    broken = runner.invoke(main, ["diagram", "-"], input="dense 64 relux\n")
    assert broken.exit_code == 1 and "relux" in broken.output
    assert "Graphviz" in runner.invoke(main, ["diagram", "--help"]).output
    if HAS_DOT:
        svg = tmp_path / "seed.svg"
        assert runner.invoke(main, ["diagram", seed, "-o", str(svg)]).exit_code == 0
        assert "<svg" in svg.read_text()


def test_a_graph_draws_each_input_and_names_its_outputs() -> None:
    dot = to_dot(_model(EXAMPLES / "siamese.net"))
    assert "input a" in dot and "input b" in dot and "input1 -> n3" in dot
    assert "<b>output same</b>" in dot and "n8 -> o0;" in dot  # an output's own box
    assert "shared tower again: same weights" in dot  # n3..n5 reuse n0..n2
    multitask = to_mermaid(_model(EXAMPLES / "multitask.net"))
    assert "output digit" in multitask and "output odd" in multitask
