"""Callbacks and learning-rate schedules in the language (checked without TensorFlow), what
they do in a real run, and the `netdsl runs` and `netdsl plot` verbs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import builtin_registry

import netdsl
from netdsl.errors import NetdslError
from netdsl.tools.cli import main

HEAD = "dataset: synthetic(train_size=512, test_size=64)\ninput: 8\nepochs: 3\nseed: 2\n"
NET = "dense 16 relu -> dense 10 softmax\n"


def _check(settings: str) -> Any:
    return netdsl.check(HEAD + settings + NET, builtin_registry())


def _errors(settings: str) -> list[str]:
    with pytest.raises(NetdslError) as info:
        _check(settings)
    return [e.message for e in info.value.errors]


ACCEPTED = [
    (
        "early-stopping",
        "validation_split: 0.2\ncallbacks: [early_stopping(monitor=val_loss, patience=3, "
        "restore_best_weights=true)]\n",
    ),
    ("train-metric", "callbacks: [early_stopping(monitor=accuracy, mode=max)]\n"),
    (
        "reduce-lr",
        "validation_split: 0.1\ncallbacks: [reduce_lr_on_plateau(factor=0.5, patience=2)]\n",
    ),
    (
        "both",
        "validation_split: 0.1\ncallbacks: [early_stopping(patience=3), reduce_lr(factor=0.5)]\n",
    ),
    ("cosine", "optimizer: adam(learning_rate=cosine_decay(1e-3, warmup_steps=500))\n"),
    ("cosine-positional", "optimizer: adam(cosine_decay(1e-3))\n"),
    ("exponential", "optimizer: sgd(learning_rate=exponential_decay(0.1, decay_rate=0.5))\n"),
    (
        "piecewise",
        "optimizer: sgd(learning_rate=piecewise_constant([100, 200], [0.1, 0.01, 0.001]))\n",
    ),
    ("one-cycle", "optimizer: adamw(learning_rate=one_cycle(3e-3, pct_start=0.25))\n"),
    ("plain-rate", "optimizer: adam(learning_rate=0.01)\n"),
]


@pytest.mark.parametrize("settings", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_callbacks_and_schedules_check(settings: str) -> None:
    model = _check(settings)
    assert model.settings is not None
    assert (
        netdsl.check(
            netdsl.format(netdsl.parse(HEAD + settings + NET)), builtin_registry()
        ).settings
        == model.settings
    ), "the canonical form checks to the same settings"


REFUSED = [
    (
        "val-needs-validation",
        "callbacks: [early_stopping(monitor=val_accuracy)]\n",
        "`early_stopping` watches `val_accuracy`, but the program has no validation data",
    ),
    (
        "default-monitor-is-val-loss",
        "callbacks: [early_stopping(patience=2)]\n",
        "`early_stopping` watches `val_loss`, but the program has no validation data",
    ),
    (
        "unknown-metric",
        "validation_split: 0.1\ncallbacks: [early_stopping(monitor=val_auc)]\n",
        "`early_stopping` watches `val_auc`, which training does not log",
    ),
    (
        "bad-mode",
        "callbacks: [early_stopping(monitor=loss, mode=up)]\n",
        "`up` is not allowed here",
    ),
    (
        "negative-patience",
        "callbacks: [early_stopping(monitor=loss, patience=-1)]\n",
        "out of range",
    ),
    (
        "factor-one",
        "validation_split: 0.1\ncallbacks: [reduce_lr_on_plateau(factor=1)]\n",
        "out of range",
    ),
    (
        "lr-callback-with-schedule",
        "validation_split: 0.1\noptimizer: adam(cosine_decay(1e-3))\n"
        "callbacks: [reduce_lr_on_plateau]\n",
        "`reduce_lr_on_plateau` changes the learning rate, which the schedule `cosine_decay` already decides",
    ),
    ("not-a-callback", "callbacks: [relu]\n", "relu"),
    ("zero-rate", "optimizer: adam(cosine_decay(0))\n", "out of range"),
    ("schedule-typo", "optimizer: adam(cosine_decy(1e-3))\n", "cosine_decay"),
]


@pytest.mark.parametrize("settings, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_bad_callbacks_and_schedules_are_check_errors(settings: str, message: str) -> None:
    text = (
        "\n".join(_errors(settings))
        + "\n"
        + "\n".join(str(e.help) for e in _raised(settings).errors)
    )
    assert message in text


def _raised(settings: str) -> NetdslError:
    try:
        _check(settings)
    except NetdslError as e:
        return e
    raise AssertionError("no error")


def test_validation_split_from_the_command_line_satisfies_a_val_monitor(tmp_path: Path) -> None:
    spec = tmp_path / "m.net"
    spec.write_text(HEAD + "callbacks: [early_stopping(monitor=val_loss)]\n" + NET)
    result = CliRunner().invoke(main, ["--no-plugins", "check", str(spec)])
    assert result.exit_code == 1 and "no validation data" in result.output


def test_total_steps_come_from_data_size_batch_and_epochs() -> None:
    from netdsl.keras.compiler import total_steps

    model = _check("batch_size: 32\nvalidation_split: 0.25\n")
    assert total_steps(model) == math.ceil(512 * 0.75 / 32) * 3 == 36
    assert total_steps(model, train_examples=1000) == math.ceil(750 / 32) * 3


@pytest.mark.slow
def test_a_run_with_callbacks_and_a_schedule_records_everything(tmp_path: Path) -> None:
    spec = tmp_path / "ctl.net"
    spec.write_text(
        HEAD.replace("epochs: 3", "epochs: 6") + "validation_split: 0.25\n"
        "optimizer: adam(cosine_decay(0.01))\n"
        "callbacks: [early_stopping(monitor=val_loss, patience=0, min_delta=100)]\n" + NET
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(main, ["--no-plugins", "run", str(spec), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    (folder,) = out.iterdir()
    history = json.loads((folder / "history.json").read_text())["epochs"]
    assert len(history) == 2, (
        "min_delta=100 never counts as improving: patience 0 stops after epoch 2"
    )
    assert all("val_loss" in row and "val_accuracy" in row for row in history)
    assert history[1]["learning_rate"] < history[0]["learning_rate"] < 0.01, (
        "the cosine schedule decays"
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["stopped_early"] is True
    csv = (folder / "history.csv").read_text().splitlines()
    assert csv[0].startswith("epoch,") and "val_loss" in csv[0] and len(csv) == 3
    assert list((folder / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((folder / "tensorboard" / "validation").glob("events.out.tfevents.*"))
    confusion = json.loads((folder / "confusion.json").read_text())
    assert len(confusion["matrix"]) == 10 and sum(map(sum, confusion["matrix"])) == 64

    # the runs table and the pictures read the same folder
    table = CliRunner().invoke(main, ["runs", str(out)])
    assert table.exit_code == 0 and folder.name in table.output and "finished" in table.output
    listed = json.loads(CliRunner().invoke(main, ["runs", str(out), "--json"]).output)["runs"]
    assert listed[0]["name"] == folder.name and listed[0]["epochs"] == 2
    assert (
        folder.name not in CliRunner().invoke(main, ["runs", str(out), "--status", "failed"]).output
    )
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    drawn = CliRunner().invoke(main, ["plot", str(folder), str(folder), "-o", str(png)])
    assert drawn.exit_code == 0, drawn.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / f"curves-{folder.name}-confusion.png").exists()


def _fake_run(
    root: Path, name: str, status: str, acc: float | None, started: str, resumed: int = 0
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "model.net").write_text(NET)
    test = {"loss": 1 - (acc or 0), "accuracy": acc} if acc is not None else {}
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "status": status,
                "started": started,
                "file": f"{name}.net",
                "epochs_completed": 2,
                "epochs_planned": 3,
                "test": test,
                "wall_seconds": 12.5,
                "resumed": ["x"] * resumed,
            }
        )
    )
    (folder / "history.json").write_text(
        json.dumps(
            {
                "epochs": [
                    {
                        "loss": 2.0,
                        "accuracy": 0.3,
                        "val_loss": 2.1,
                        "val_accuracy": 0.25,
                        "learning_rate": 1e-3,
                    },
                    {
                        "loss": 1.0,
                        "accuracy": 0.6,
                        "val_loss": 1.2,
                        "val_accuracy": 0.55,
                        "learning_rate": 5e-4,
                    },
                ]
            }
        )
    )
    return folder


FILTERS = [
    ("all", [], ["c", "b", "a"]),
    ("stopped", ["--status", "stopped"], ["b"]),
    ("resumed", ["--status", "resumed"], ["c"]),
    ("by-accuracy", ["--sort", "accuracy"], ["a", "c", "b"]),
    ("by-name", ["--sort", "name"], ["a", "b", "c"]),
]


@pytest.mark.parametrize("args, names", [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_runs_lists_sorts_and_filters(tmp_path: Path, args: list[str], names: list[str]) -> None:
    _fake_run(tmp_path, "a", "finished", 0.9, "2026-01-01T10:00:00")
    _fake_run(tmp_path, "b", "stopped", None, "2026-01-02T10:00:00")
    _fake_run(tmp_path, "c", "finished", 0.8, "2026-01-03T10:00:00", resumed=1)
    (tmp_path / "not-a-run").mkdir()
    result = CliRunner().invoke(main, ["runs", str(tmp_path), "--json", *args])
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)["runs"]] == names
    text = CliRunner().invoke(main, ["runs", str(tmp_path), *args]).output
    assert text.splitlines()[0].split()[:5] == ["NAME", "STARTED", "SPEC", "EPOCHS", "STATUS"]


def test_plot_overlays_runs_and_refuses_a_non_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    a = _fake_run(tmp_path, "a", "finished", 0.9, "2026-01-01")
    b = _fake_run(tmp_path, "b", "finished", 0.8, "2026-01-02")
    out = tmp_path / "pics" / "both.png"
    result = CliRunner().invoke(main, ["plot", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0 and out.exists(), result.output
    bad = CliRunner().invoke(main, ["plot", str(tmp_path / "pics")])
    assert bad.exit_code == 1 and "not a run folder" in bad.output and "Traceback" not in bad.output


def test_plot_without_matplotlib_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "netdsl.tools.plots", raising=False)
    result = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert result.exit_code == 1 and "pip install 'netdsl[plot]'" in result.output
