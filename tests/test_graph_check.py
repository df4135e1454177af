"""Checking graphs: names resolved over the DAG, shapes and exact parameter counts (a shared
chain counted once), every mistake at its span (both sides where there are two), warnings."""

from __future__ import annotations

import pytest

import netdsl
from netdsl.errors import NetdslError

PAIRS = "dataset: mnist(task=pairs)\n"
PARITY = "dataset: mnist(task=parity)\n"
SIAMESE = (
    PAIRS
    + "shared tower = flatten -> dense 128 relu -> dense 64 relu\n"
    + "ta = a -> tower\ntb = b -> tower\n"
    + "[ta | tb] concat -> dense 64 relu -> dense 1 sigmoid\n"
)
MULTI = (
    PARITY
    + "trunk = conv2d 32 3 relu -> maxpool 2 -> flatten -> dense 64 relu\n"
    + "output digit = trunk -> dense 10 softmax\noutput odd = trunk -> dense 1 sigmoid\n"
)


def test_siamese_counts_the_shared_tower_once() -> None:
    m = netdsl.check(SIAMESE)
    assert m.total_params == 117_057
    assert [i.name for i in m.inputs] == ["a", "b"] and [o.name for o in m.outputs] == ["same"]
    shared = [n for n in m.nodes if n.shares is not None]
    assert [m.nodes[n.shares].layer for n in shared] == ["flatten", "dense", "dense"]
    assert all(n.params == 0 for n in shared)
    merge = next(n for n in m.nodes if n.layer == "concat")
    assert [m.nodes[i].index for i in merge.inputs] == [2, 5]
    assert m.nodes[0].inputs == (-1,) and m.nodes[3].inputs == (-2,)


def test_multitask_outputs_get_their_own_loss_metrics_and_weights() -> None:
    m = netdsl.check(MULTI + "loss_weights: {digit: 1.0, odd: 0.5}\n")
    by = {o.name: o for o in m.outputs}
    assert by["digit"].loss is not None and by["digit"].loss.name == "categorical_crossentropy"
    assert by["odd"].loss is not None and by["odd"].loss.name == "binary_crossentropy"
    assert (by["digit"].loss_weight, by["odd"].loss_weight) == (1.0, 0.5)
    assert by["digit"].labels == "categorical" and by["odd"].labels == "any"
    assert m.total_params == 347_211
    assert m.to_dict()["outputs"][1]["name"] == "odd"


def test_chain_program_is_not_a_graph() -> None:
    m = netdsl.check("dense 64 relu -> dense 10 softmax")
    assert not m.is_graph and m.inputs == () and "outputs" not in m.to_dict()
    assert m.nodes[0].inputs == ()


@pytest.mark.parametrize(
    ("src", "code", "words", "where", "notes"),
    [
        pytest.param(
            SIAMESE.replace("[ta | tb]", "[ta | tbb]"),
            "NDL003",
            "unknown name `tbb`",
            (5, 7),
            0,
            id="unknown-tensor",
        ),
        pytest.param(
            SIAMESE.replace("ta = a ->", "ta = aa ->"),
            "NDL003",
            "unknown name `aa`",
            (3, 6),
            0,
            id="unknown-input",
        ),
        pytest.param(
            PAIRS + "t1 = t2 -> flatten\nt2 = a -> flatten\n[t1 | b] concat -> dense 1\n",
            "NDL011",
            "used before its definition",
            (2, 6),
            1,
            id="use-before-definition",
        ),
        pytest.param(
            PAIRS + "t = t -> flatten\n[t | b -> flatten] concat -> dense 1\n",
            "NDL011",
            "used before its definition",
            (2, 5),
            1,
            id="cycle",
        ),
        pytest.param(
            PAIRS + "t = a -> flatten\nt = b -> flatten\n[t | b -> flatten] concat -> dense 1\n",
            "NDL011",
            "defined twice",
            (3, 1),
            1,
            id="defined-twice",
        ),
        pytest.param(
            PAIRS + "dense = a -> flatten\n[a | b] concat -> flatten -> dense 1\n",
            "NDL011",
            "a layer's name",
            (2, 1),
            0,
            id="named-like-a-layer",
        ),
        pytest.param(
            PAIRS + "t = a -> flatten\n[t | b] concat -> dense 1\n",
            "NDL008",
            "cannot take its input",
            (3, 9),
            2,
            id="merge-points-at-both",
        ),
        pytest.param(
            PAIRS
            + "shared tower = flatten -> dense 8\nta = a -> tower\n"
            + "tb = b -> maxpool 2 -> tower\n[ta | tb] concat -> dense 1\n",
            "NDL008",
            "different shapes",
            (4, 24),
            2,
            id="shared-different-shapes",
        ),
        pytest.param(
            MULTI.replace("output digit", "output digt"),
            "NDL013",
            "no target `digt`",
            (3, 8),
            0,
            id="output-the-data-lacks",
        ),
        pytest.param(
            MULTI.replace("output odd = trunk -> dense 1 sigmoid\n", ""),
            "NDL013",
            "`odd` has no output",
            (1, 10),
            0,
            id="target-without-output",
        ),
        pytest.param(
            MULTI + "loss: {digit: categorical_crossentropy, odds: binary_crossentropy}\n",
            "NDL004",
            "`odds`, which is not an output",
            (5, 41),
            0,
            id="loss-for-no-output",
        ),
        pytest.param(
            PAIRS + "flatten -> dense 1 sigmoid\n",
            "NDL003",
            "several inputs",
            (2, 1),
            0,
            id="no-start-with-several-inputs",
        ),
        pytest.param(
            MULTI + "trunk -> dense 3\n",
            "NDL011",
            "unnamed chain",
            (5, 1),
            1,
            id="unnamed-beside-named-outputs",
        ),
        pytest.param(
            PAIRS + "ta = a -> flatten\n[ta | b -> flatten] concat -> ta -> dense 1\n",
            "NDL003",
            "can only start a chain",
            (3, 31),
            0,
            id="tensor-mid-chain",
        ),
        pytest.param(
            SIAMESE + "normalize: true\n",
            "NDL004",
            "`normalize`",
            (6, 1),
            0,
            id="normalize-in-a-graph",
        ),
        pytest.param(
            PAIRS + "shared t = flatten -> t\n[a -> t | b -> t] concat -> dense 1\n",
            "NDL011",
            "uses itself",
            (2, 23),
            2,
            id="shared-uses-itself",
        ),
    ],
)
def test_graph_errors_at_their_spans(
    src: str, code: str, words: str, where: tuple[int, int], notes: int
) -> None:
    with pytest.raises(NetdslError) as caught:
        netdsl.check(src)
    err = next((e for e in caught.value.errors if words in e.message), None)
    assert err is not None, [e.message for e in caught.value.errors]
    assert err.code == code
    assert err.span is not None and (err.span.line, err.span.column) == where
    assert len(err.notes) >= notes


def test_warnings_for_unused_tensor_and_unread_input() -> None:
    m = netdsl.check(PAIRS + "spare = b -> flatten\na -> flatten -> dense 1 sigmoid\n")
    words = sorted(w.message for w in m.warnings)
    assert words == ["the tensor `spare` is never used"]
    m = netdsl.check(PAIRS + "a -> flatten -> dense 1 sigmoid\n")
    assert [w.message for w in m.warnings] == ["the data's input `b` is never read"]
    assert all(w.code == "NDL016" and w.kind == "warning" for w in m.warnings)


def test_graph_expansion_is_bounded() -> None:
    src = PAIRS + "t = a -> (dense 4) * 60000\nu = t -> (dense 4) * 60000\n"
    src += "[u | b -> flatten] concat -> dense 1\n"
    with pytest.raises(NetdslError) as caught:
        netdsl.check(src)
    assert any(e.code == "NDL012" for e in caught.value.errors)


def test_cli_check_shows_warnings_and_succeeds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from netdsl.tools.cli import main

    path = tmp_path / "w.net"
    path.write_text(PAIRS + "spare = b -> flatten\na -> flatten -> dense 1 sigmoid\n")
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning[NDL016]: the tensor `spare` is never used" in result.output
    assert "spare = b -> flatten" in result.output  # the line, under the message


def test_runs_judge_a_graph_by_its_first_outputs_metric() -> None:
    from netdsl.run.runs import main_metric

    test = {"loss": 0.3, "digit_accuracy": 0.98, "odd_accuracy": 0.97, "odd_loss": 0.1}
    assert main_metric(test, "classes") == ("accuracy", 0.98)
    assert main_metric({"loss": 0.3, "accuracy": 0.5}, "classes") == ("accuracy", 0.5)


def test_graph_cost_bench_programs() -> None:
    """bench/graph_cost.py's programs: a skip graph checks with two nodes a line, each merge
    reading two tensors; the 1 KB bombs are refused (NDL012) at once."""
    import sys
    import time

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import graph_cost
    finally:
        sys.path.remove(str(ROOT / "bench"))
    model = netdsl.check(graph_cost.skip_graph(200))
    assert len(model.nodes) == 200
    merges = [n for n in model.nodes if n.layer == "add"]
    assert len(merges) == 99 and all(len(n.inputs) == 2 for n in merges)
    for name, text in graph_cost.PROGRAMS.items():
        if text is None:
            continue
        start = time.process_time()
        with pytest.raises(NetdslError) as caught:
            netdsl.check(text)
        assert caught.value.errors[0].code == "NDL012", name
        assert time.process_time() - start < 1.0 and len(text.encode()) <= 1024
