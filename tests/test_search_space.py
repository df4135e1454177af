"""Search spaces: parameters with spans, malformed spaces, resolution, the static check of a
whole space (enumerated or covered), and `netdsl check`/`fmt` on a space (no TensorFlow)."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdsl.checking.checker import check
from netdsl.errors import NetdslError, NetdslSettingError, NetdslSpaceError
from netdsl.lang.formatter import format as fmt
from netdsl.lang.parser import parse
from netdsl.lang.space import extract, resolve
from netdsl.search.check import check_space, points
from netdsl.search.settings import read_tune_settings
from netdsl.tools import cli
from netdsl.vocab.registry import Registry

SPACE = (
    "optimizer: adam(learning_rate=range(1e-4, 1e-1, log=true))\n"
    "batch_size: choice(32, 64)\n"
    "tune_trials: 5\n\n"
    "dense choice(32, 64) relu -> (dense range(8, 64, step=8) relu) * choice(1, 2)\n"
    "  -> choice(dense 64 relu, dense 128 relu -> dropout choice(0.1, 0.5)) -> dense 10 softmax\n"
)


def space_of(text: str):  # type: ignore[no-untyped-def]
    return extract(parse(text, "s.net"))


def test_parameters_have_kinds_spans_and_conditions() -> None:
    sp = space_of(SPACE)
    kinds = {p.name: p.kind for p in sp.params}
    assert kinds == {
        "optimizer.learning_rate@1:31": "float",
        "batch_size@2:13": "choice",
        "dense@5:7": "choice",
        "repeat@5:66": "choice",
        "dense@5:37": "int",
        "step@6:6": "step",
        "dropout@6:54": "choice",
    }
    assert sp.param("dropout@6:54").parent == ("step@6:6", 1)
    # 2 batch sizes x 2 units x 2 counts x 8 widths x (1 + 2 for the step choice)
    assert sp.size() == (192, True)
    assert [s.key for s in sp.tune] == ["tune_trials"]
    assert all(not s.key.startswith("tune_") for s in sp.program.settings)


def test_a_point_resolves_to_a_plain_program_that_checks(registry: Registry) -> None:
    sp = space_of(SPACE)
    point = {p.name: p.check_values()[-1] for p in sp.params}
    text = fmt(resolve(sp, point))
    assert "choice" not in text and "range" not in text
    assert "(dense 64 relu) * 2" in text and "dense 128 relu\n  -> dropout 0.5" in text
    assert "learning_rate=0.1" in text
    assert check(parse(text), registry).total_params > 0


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("dense choice() relu -> dense 10 softmax", "no options"),
        ("dense range(64, 16) relu -> dense 10 softmax", "low > high"),
        (
            "optimizer: adam(learning_rate=range(0, 0.1, log=true))\ndense 10 softmax",
            "log range through zero",
        ),
        ("dense range(16, 120, step=16) -> dense 10 softmax", "does not divide"),
        ("dense range(16) -> dense 10 softmax", "needs low and high"),
        ("dense range(16, 32, steps=2) -> dense 10 softmax", "not step or log"),
        ("dense choice(32, 32) -> dense 10 softmax", "given before"),
        ("(dense 8) * choice(0, 1) -> dense 10 softmax", "not counts from 1"),
        ("choice(64, 128) -> dense 10 softmax", "not a chain"),
    ],
    ids=["empty", "low-high", "log-zero", "step", "one-end", "key", "twice", "times", "step-val"],
)
def test_malformed_spaces_are_errors_at_their_span(text: str, label: str) -> None:
    with pytest.raises(NetdslError) as info:
        space_of(text)
    err = info.value.errors[0]
    assert isinstance(err, NetdslSpaceError) and err.code == "NDL016"
    assert err.label == label and err.span is not None


def test_an_invalid_option_is_reported_at_the_option_with_its_combination(
    registry: Registry,
) -> None:
    text = "conv2d choice(16, 32) 3 relu -> maxpool choice(2, 30) -> dense 10 softmax\n"
    sp = space_of(text)
    report = check_space(sp, registry)
    assert (report.size, report.checked, report.passed, len(report.failing)) == (4, 4, 2, 2)
    (err,) = report.errors
    assert err.code == "NDL008"
    assert text[err.span.start : err.span.end] == "30"  # the option, not the whole choice
    assert "maxpool@1:41=30" in err.message and "2 of 4" in (err.help or "")
    assert report.params is not None and report.params[0] < report.params[1]


def test_max_params_removes_points(registry: Registry) -> None:
    sp = space_of("dense choice(8, 512) relu -> dense 10 softmax\n")
    report = check_space(sp, registry, max_params=10_000)
    assert (report.passed, report.over_limit, report.failing) == (1, 1, [])
    assert report.params == (6_370, 6_370)


def test_a_trillion_point_space_is_covered_pairwise_in_bounded_time(registry: Registry) -> None:
    layer = (
        "dense choice(8, 16, 32, 64, 128) choice(relu, tanh, gelu) -> dropout "
        "choice(0.0, 0.1, 0.2, 0.3)"
    )
    text = (
        "batch_size: choice(16, 32, 64, 128)\n"
        + " -> ".join([layer] * 8)
        + " -> dense 10 softmax\n"
    )
    assert len(text.encode()) < 1024
    sp = space_of(text)
    assert sp.size()[0] > 10**12
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    chosen, method = points(sp)
    assert method == "a pairwise covering set" and len(chosen) < 400
    # every pair of values of two parameters is in some point
    names = [p.name for p in sp.params]
    for a, b in [(names[0], names[-1]), (names[1], names[5])]:
        seen = {(pt[a], pt[b]) for pt in chosen}
        assert len(seen) == sp.param(a).count * sp.param(b).count  # type: ignore[operator]
    report = check_space(sp, registry)
    assert report.passed == report.checked
    assert time.perf_counter() - started < 20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB


def test_a_pair_only_invalid_together_is_found_by_the_covering_set(registry: Registry) -> None:
    # 6 x 6 x 4^6 ... points: only conv 3x3 on a 4x4 map after two pools of 2... fails
    extra = " -> ".join(["dropout choice(0.0, 0.1, 0.2, 0.3)"] * 6)
    text = (
        "conv2d 8 choice(3, 5, 7, 9, 11, 13) relu -> maxpool 2 -> conv2d 8 "
        "choice(3, 5, 7, 9, 11, 13) relu -> " + extra + " -> dense 10 softmax\n"
    )
    sp = space_of(text)
    _chosen, method = points(sp)
    assert method == "a pairwise covering set"
    report = check_space(sp, registry)
    # 28 - k1 + 1 pooled by 2 must be >= k2: fails e.g. for (13, 13), (11, 13), ...
    assert report.errors and all(e.code == "NDL008" for e in report.errors)
    assert report.passed > 0


def test_tune_settings_are_read_and_checked() -> None:
    sp = space_of("tune_trials: 3\ntune_sampler: random\ntune_max_params: 100\ndense 10\n")
    assert read_tune_settings(sp.tune).trials == 3
    with pytest.raises(NetdslSettingError, match="unknown tune setting") as info:
        read_tune_settings(space_of("tune_trails: 3\ndense 10\n").tune)
    assert info.value.help == "did you mean `tune_trials`?"
    with pytest.raises(NetdslSettingError, match="tpe, random or grid"):
        read_tune_settings(space_of("tune_sampler: bayes\ndense 10\n").tune)


def test_the_plain_checker_refuses_a_space_by_name(registry: Registry) -> None:
    with pytest.raises(NetdslSpaceError, match="search space") as info:
        check("dense choice(32, 64) relu -> dense 10 softmax", registry)
    assert info.value.span is not None and info.value.span.column == 7


def test_fmt_keeps_a_space() -> None:
    p = parse(SPACE)
    assert parse(fmt(p)) == p
    assert "* choice(1, 2)" in fmt(p) and "choice(dense 64 relu, dense 128 relu" in fmt(p)


def test_repeat_space_in_ir_json_round_trips() -> None:
    from netdsl.lang import ir

    p = parse("(dense 8 relu) * choice(1, 2) -> dense 10\n")
    data = p.to_dict()
    assert data["network"]["steps"][0]["times_space"]["name"] == "choice"
    assert ir.Program.from_dict(data) == p
    assert (
        "times_space" not in parse("(dense 8) * 2 -> dense 10\n").to_dict()["network"]["steps"][0]
    )


def test_cli_check_prints_size_and_ranges(tmp_path: Path) -> None:
    f = tmp_path / "s.net"
    f.write_text(SPACE)
    r = CliRunner().invoke(cli.main, ["--no-plugins", "check", str(f)])
    assert r.exit_code == 0, r.output
    assert "192 points (and real ranges)" in r.output and "parameters:" in r.output
    r = CliRunner().invoke(cli.main, ["--no-plugins", "check", "--json", str(f)])
    data = json.loads(r.stdout)["files"][0]
    assert data["ok"] and data["space"]["size"] == 192 and len(data["space"]["parameters"]) == 7
    bad = tmp_path / "bad.net"
    bad.write_text("conv2d 8 3 relu -> maxpool choice(2, 30) -> dense 10 softmax\n")
    r = CliRunner().invoke(cli.main, ["--no-plugins", "check", str(bad)])
    assert r.exit_code == 1 and "NDL008" in r.output and "1 fail the check" in r.output


def test_summary_shows_the_parameters_and_the_first_passing_point(tmp_path: Path) -> None:
    f = tmp_path / "s.net"
    f.write_text(SPACE)
    r = CliRunner().invoke(cli.main, ["--no-plugins", "summary", str(f)])
    assert r.exit_code == 0, r.output
    assert "search space: 192 points (and real ranges)" in r.output
    assert "range(8, 64, step=8)" in r.output and "choice(32, 64)" in r.output
    assert "when step@6:6 = dense 128 relu -> dropout choice(0.1, 0.5)" in r.output
    assert "first passing point: " in r.output and "total parameters" in r.output


def test_diagram_draws_the_first_passing_point_and_says_so(tmp_path: Path) -> None:
    f = tmp_path / "s.net"
    f.write_text("conv2d 8 3 relu -> maxpool choice(30, 2) -> dense 10 softmax\n")
    r = CliRunner().invoke(cli.main, ["--no-plugins", "diagram", str(f)])
    assert r.exit_code == 0, r.output
    assert "first passing point of 2 (maxpool@1:28=2)" in r.output


def test_hover_on_a_choice_lists_its_options(registry: Registry) -> None:
    pytest.importorskip("lsprotocol")
    from lsprotocol import types as lsp

    from netdsl.tools.lsp_features import analyze

    text = "dense choice(32, 64, 128) relu -> dropout choice(0.1, 0.2) -> dense 10 softmax\n"
    a = analyze("file:///m.net", text, registry)
    hover = a.hover(lsp.Position(0, 8))
    assert hover is not None
    value = hover.contents.value  # type: ignore[union-attr]
    assert "`dense@1:7`" in value and "3 options" in value and "- `128`" in value
    assert a.model is not None  # hover on layers reads the first passing point
    assert all(e.code != "NDL016" for e in a.errors)


def test_an_error_names_only_the_options_that_make_it(registry: Registry) -> None:
    text = (
        "batch_size: choice(32, 64)\n"
        "conv2d choice(16, 32) 3 relu -> maxpool choice(2, 4)\n"
        "  -> (conv2d 32 3 relu) * choice(1, 3) -> flatten -> dense 10 softmax\n"
    )
    report = check_space(space_of(text), registry)
    (err,) = report.errors
    assert err.message.endswith("(with maxpool@2:41=4, repeat@3:27=3)")
    assert sorted(n.label for n in err.notes) == ["with maxpool@2:41 = 4", "with repeat@3:27 = 3"]


GRAPH_SPACE = (
    "dataset: mnist(task=parity)\n"
    "loss_weights: {digit: 1.0, odd: choice(0.5, 1.0)}\n"
    "trunk = conv2d choice(16, 32) 3 relu -> maxpool 2 -> flatten -> dense 32 relu\n"
    "output digit = trunk -> dense 10 softmax\n"
    "output odd = [trunk | trunk] concat -> dense choice(1, 2) sigmoid\n"
)


def test_a_graph_space_reaches_bindings_maps_and_merges(registry: Registry) -> None:
    """Choices inside named chains and per-output mappings are parameters too; a point
    resolves every one of them, and the point that breaks a target is reported."""
    sp = space_of(GRAPH_SPACE)
    assert len(sp.params) == 3
    report = check_space(sp, registry)
    assert report.size == 8 and report.passed == 4  # `dense 2 sigmoid` fits no binary target
    assert report.errors and all(e.span is not None for e in report.errors)
