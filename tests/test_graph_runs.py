"""A graph's results per output: ``metrics.json`` groups Keras's ``<output>_<metric>`` values
by output (with the total loss), ``netdsl runs`` shows each output's main metric, ``netdsl
plot`` lays the curves out by output. Unit tests on made-up run folders, and a real run of the
hand-made graph (slow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from graph_programs import write_tiny

from netdsl.run.runs import by_output, list_runs, output_metrics
from netdsl.tools.cli import main
from netdsl.tools.runs_view import runs_table


@pytest.mark.parametrize(
    "values, outputs, grouped",
    [
        (
            {"loss": 1.0, "digit_loss": 0.5, "digit_accuracy": 0.9, "odd_loss": 0.2},
            ["digit", "odd"],
            {"digit": {"loss": 0.5, "accuracy": 0.9}, "odd": {"loss": 0.2}},
        ),
        (  # a name that starts another's: the longer one takes its own keys
            {"a_loss": 1.0, "a_b_loss": 2.0, "a_b_mae": 3.0},
            ["a", "a_b"],
            {"a": {"loss": 1.0}, "a_b": {"loss": 2.0, "mae": 3.0}},
        ),
        ({"loss": 1.0}, [], {}),
    ],
    ids=["two-heads", "prefix-names", "chain"],
)
def test_by_output(values: dict[str, float], outputs: list[str], grouped: Any) -> None:
    assert by_output(values, outputs) == grouped


def _target(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "target": {"kind": kind, "num_classes": 0, "shape": []}}


def _fake_run(root: Path, name: str, history: list[dict[str, float]], graph: bool) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.net").write_text("dense 1\n")
    test = {
        "loss": 0.3,
        "digit_accuracy": 0.98,
        "digit_loss": 0.1,
        "odd_accuracy": 0.9612,
        "odd_loss": 0.4,
    }
    if not graph:
        test = {"loss": 0.3, "accuracy": 0.5}
    metrics = {"started": f"2026-01-0{1 + graph}T00:00:00", "status": "finished", "test": test}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "history.json").write_text(json.dumps({"epochs": history}))
    info: dict[str, Any] = {"target": {"kind": "classes"}}
    if graph:
        info["targets"] = [_target("digit", "classes"), _target("odd", "binary")]
    (folder / "data.json").write_text(json.dumps({"target": {"kind": "classes"}, "info": info}))
    return folder


HISTORY = [
    {
        "loss": 1.0 / e,
        "digit_loss": 0.6 / e,
        "digit_accuracy": 0.5 + e / 10,
        "odd_loss": 0.8 / e,
        "odd_accuracy": 0.6 + e / 20,
        "val_loss": 1.1 / e,
        "val_digit_accuracy": 0.4 + e / 10,
        "learning_rate": 0.001,
    }
    for e in (1, 2, 3)
]


def test_runs_show_each_outputs_metric(tmp_path: Path) -> None:
    _fake_run(tmp_path, "graph", HISTORY, graph=True)
    _fake_run(tmp_path, "chain", [{"loss": 1.0}], graph=False)
    rows = list_runs(tmp_path)
    graph = next(r for r in rows if r["name"] == "graph")
    assert [o["output"] for o in graph["outputs"]] == ["digit", "odd"]
    assert graph["outputs"][1] == {
        "output": "odd",
        "loss": 0.4,
        "metric": {"name": "accuracy", "value": 0.9612},
    }
    assert "outputs" not in next(r for r in rows if r["name"] == "chain")
    table = runs_table(rows)
    assert "digit 98.00% · odd 96.12%" in table
    assert "50.00%" in table.splitlines()[2]  # the chain's run, as before


def test_plot_lays_out_a_graphs_curves_by_output(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from netdsl.tools import plots

    run = _fake_run(tmp_path, "graph", HISTORY, graph=True)
    names = plots._quantities([HISTORY])
    layout = plots._layout(names, plots._outputs([run]))
    assert layout == [
        [("loss", "total loss"), ("learning_rate", "learning rate")],
        [("digit_loss", "digit: loss"), ("digit_accuracy", "digit: accuracy")],
        [("odd_loss", "odd: loss"), ("odd_accuracy", "odd: accuracy")],
    ]
    out = plots.plot_curves([run], tmp_path / "curves.png")
    assert out.read_bytes().startswith(b"\x89PNG")
    chain = _fake_run(tmp_path, "chain", [{"loss": 1.0, "accuracy": 0.5}], graph=False)
    assert plots._layout(["loss", "accuracy"], plots._outputs([chain])) == [
        [("loss", "loss"), ("accuracy", "accuracy")]
    ]


@pytest.mark.slow
def test_a_real_graph_run_reports_per_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("keras")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    program = write_tiny(tmp_path, n=60)
    program.write_text(program.read_text().replace("epochs: 1", "epochs: 2\nvalidation_split: 0.2"))
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(program), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = (tmp_path / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["outputs"]) == {"cls", "score"}
    assert set(metrics["outputs"]["cls"]) == {"loss", "accuracy"}
    assert set(metrics["outputs"]["score"]) == {"loss", "mean_absolute_error"}
    assert "loss" in metrics["test"]  # the total, weighted sum of the outputs' losses
    assert metrics["test"]["loss"] == pytest.approx(
        metrics["outputs"]["cls"]["loss"] + metrics["outputs"]["score"]["loss"], rel=1e-3
    )
    rows = json.loads(runner.invoke(main, ["runs", str(tmp_path / "runs"), "--json"]).output)[
        "runs"
    ]
    assert [o["output"] for o in rows[0]["outputs"]] == ["cls", "score"]
    assert output_metrics(metrics["test"], json.loads((run / "data.json").read_text()))
    result = runner.invoke(main, ["plot", str(run), "-o", str(tmp_path / "curves.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
