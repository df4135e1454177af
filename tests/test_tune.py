"""``netdsl tune``: the ask-and-tell loop, refused points, pruning, crashes and hangs, a killed
tuner continued, results, storage errors, and (with $NETDSL_TEST_POSTGRES) two tuners sharing
one PostgreSQL study. Most trials here run ``tests/tune_trial_double.py``, a stand-in for
``netdsl run`` with the same command line and run-folder contract; the slow tests train real
ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from netdsl.lang.parser import parse
from netdsl.lang.space import extract
from netdsl.search.settings import read_tune_settings
from netdsl.search.study import import_optuna
from netdsl.search.tune import TuneOptions, Tuner
from netdsl.tools import cli
from netdsl.vocab.registry import Registry

optuna = pytest.importorskip("optuna", reason="netdsl tune needs Optuna: pip install '.[tune]'")

DOUBLE = (sys.executable, str(Path(__file__).with_name("tune_trial_double.py")))
HEAD = (
    "dataset: synthetic(train_size=64, test_size=16)\ninput: 8\nepochs: 3\nvalidation_split: 0.25\n"
)


def tuner(
    tmp_path: Path,
    text: str,
    registry: Registry,
    lines: list[str] | None = None,
    name: str = "t",
    **options: Any,
) -> Tuner:
    space = extract(parse(HEAD + text, "t.net"))
    opts = TuneOptions(tmp_path / "study", name, trial_command=DOUBLE, **options)
    out = lines if lines is not None else []
    return Tuner(space, read_tune_settings(space.tune), opts, registry, out.append)


def states(study: Any) -> list[tuple[str, Any]]:
    return [(t.state.name, t.user_attrs.get("refused") is not None) for t in study.trials]


def test_refused_points_are_never_trained_nor_counted(tmp_path: Path, registry: Registry) -> None:
    # reshape 4x4 fits only 16 units: half the points fail the check
    text = (
        "tune_trials: 4\ntune_sampler: random\ntune_seed: 0\ntune_pruner: none\n"
        "dense choice(8, 16, 24, 32) relu -> reshape choice(2x4, 4x4) -> flatten -> dense 10 softmax\n"
    )
    t = tuner(tmp_path, text, registry)
    study = t.run()
    trained = [x for x in study.trials if "refused" not in x.user_attrs]
    refused = [x for x in study.trials if "refused" in x.user_attrs]
    assert len(trained) == 4 and all(x.state.name == "COMPLETE" for x in trained)
    assert refused, "the seed proposes invalid points"
    assert all(x.state.name == "PRUNED" and not x.intermediate_values for x in refused)
    folders = sorted(p.name for p in (tmp_path / "study" / "trials").iterdir())
    assert folders == [f"{x.number:04d}" for x in trained]  # a refused point has no folder
    units, shape = (p.name for p in t.space.params)
    assert all((x.params[units], x.params[shape]) in ((8, "2x4"), (16, "4x4")) for x in trained)


def test_each_trial_is_a_run_folder_with_a_seeded_resolved_program(
    tmp_path: Path, registry: Registry
) -> None:
    t = tuner(
        tmp_path,
        "tune_trials: 2\ntune_sampler: grid\ndense choice(20, 40) relu -> dense 10 softmax\n",
        registry,
    )
    study = t.run()
    assert sorted(x.value for x in study.trials) == [0.2, 0.4]
    for x in study.trials:
        folder = Path(x.user_attrs["folder"])
        text = (folder / "trial.net").read_text()
        assert "choice" not in text and f"seed: {x.number}" in text
        (run,) = [p for p in folder.iterdir() if p.is_dir()]
        assert json.loads((run / "metrics.json").read_text())["status"] == "finished"


def test_median_pruning_stops_a_worse_trial_from_its_epoch_reports(
    tmp_path: Path, registry: Registry
) -> None:
    text = (
        "tune_trials: 5\ntune_sampler: grid\ntune_seed: 3\ntune_pruner: median\n"
        "dense choice(10, 20, 30, 40, 50) relu -> dense 10 softmax\n"
    )
    t = tuner(tmp_path, text, registry)
    study = t.run()
    pruned = [x for x in study.trials if x.state.name == "PRUNED"]
    assert pruned, [(x.number, x.params, x.state.name) for x in study.trials]
    for x in pruned:
        assert len(x.intermediate_values) >= 1  # judged on a reported epoch
        assert x.params[t.space.params[0].name] <= 30  # below the median of those before


def test_a_crash_and_a_hang_are_recorded_and_the_study_goes_on(
    tmp_path: Path, registry: Registry
) -> None:
    text = (
        "tune_trials: 3\ntune_sampler: grid\ntune_pruner: none\ntune_trial_timeout: 8\n"
        "dense choice(13, 14, 40) relu -> dense 10 softmax\n"
    )
    lines: list[str] = []
    t = tuner(tmp_path, text, registry, lines, jobs=3)
    study = t.run()
    units = t.space.params[0].name
    by_units = {x.params[units]: x for x in study.trials}
    assert by_units[13].state.name == "FAIL" and "boom" in by_units[13].user_attrs["error"]
    assert by_units[14].state.name == "FAIL" and "timed out" in by_units[14].user_attrs["error"]
    assert by_units[40].state.name == "COMPLETE" and by_units[40].value == 0.4
    assert any("timed out after 8 s" in line for line in lines)


def test_results_table_best_program_and_plots(tmp_path: Path, registry: Registry) -> None:
    pytest.importorskip("matplotlib")
    from netdsl.search.results import best_program, plot_study, trials_table

    t = tuner(
        tmp_path,
        "tune_trials: 3\ntune_sampler: grid\ndense choice(20, 60, 40) relu -> dense 10 softmax\n",
        registry,
    )
    study = t.run()
    table = trials_table(study, t.space, "val_accuracy")
    assert "val_accuracy" in table.splitlines()[0] and "best: trial" in table
    best = best_program(study, t.space, "val_accuracy")
    assert "dense 60 relu" in best and "choice" not in best and "seed:" in best
    paths = plot_study(study, t.space, "val_accuracy", tmp_path)
    assert [p.name for p in paths] == ["history.png", "params.png"]
    assert all(p.stat().st_size > 5_000 for p in paths)


KILLED = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_tune import tuner
from conftest import builtin_registry
t = tuner(Path({tmp!r}), {text!r}, builtin_registry())
t.run()
"""


def test_a_killed_tuner_continues_and_retries_the_killed_trial(tmp_path: Path) -> None:
    text = "tune_trials: 3\ntune_sampler: grid\ntune_pruner: none\ndense choice(20, 30, 40) -> dense 10 softmax\n"
    script = KILLED.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), text=text)
    env = {**os.environ, "TUNE_DOUBLE_EPOCH_SECONDS": "2"}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    journal = tmp_path / "study" / "trials"
    deadline = time.monotonic() + 60
    while not any(journal.glob("*/trial-*/history.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)  # mid-trial: no chance to tidy up
    proc.wait()
    study = import_optuna().load_study(study_name="t", storage=_journal(tmp_path))
    assert [x.state.name for x in study.trials] == ["RUNNING"]
    first = study.trials[0]
    env["TUNE_DOUBLE_EPOCH_SECONDS"] = "0.05"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)
    study = import_optuna().load_study(study_name="t", storage=_journal(tmp_path))
    done = [x for x in study.trials if x.state.name == "COMPLETE"]
    assert study.trials[0].state.name == "FAIL" and study.trials[0].user_attrs["interrupted"]
    assert sorted(next(iter(x.params.values())) for x in done) == [
        20,
        30,
        40,
    ]  # its point was retried
    assert study.trials[1].params == first.params


def _journal(tmp_path: Path) -> Any:
    from netdsl.search.study import open_storage

    return open_storage(import_optuna(), tmp_path / "study", None)


def test_a_study_from_another_program_is_refused(tmp_path: Path, registry: Registry) -> None:
    tuner(tmp_path, "tune_trials: 1\ndense choice(20, 30) -> dense 10 softmax\n", registry).run()
    with pytest.raises(Exception, match="made from another program") as info:
        tuner(
            tmp_path, "tune_trials: 1\ndense choice(20, 31) -> dense 10 softmax\n", registry
        ).run()
    assert getattr(info.value, "code", None) == "NDL330"


def test_the_tuner_process_never_imports_tensorflow(tmp_path: Path) -> None:
    script = KILLED.format(
        tests=str(Path(__file__).parent),
        tmp=str(tmp_path),
        text="tune_trials: 2\ndense choice(20, 30) -> dense 10 softmax\n",
    )
    script += "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def cli_run(*args: str) -> Any:
    return CliRunner().invoke(cli.main, ["--no-plugins", *args])


def test_an_unreachable_storage_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    f = tmp_path / "m.net"
    f.write_text(HEAD + "dense choice(20, 30) -> dense 10 softmax\n")
    study = tmp_path / "study"
    r = cli_run(
        "tune",
        str(f),
        "--study",
        str(study),
        "--storage",
        "postgresql+psycopg://me:secret@127.0.0.1:1/none",
    )
    assert r.exit_code == 1
    assert "NDL330" in r.output and "cannot reach the study storage" in r.output
    assert "secret" not in r.output and "me:***@" in r.output
    assert not study.exists()


def test_missing_optuna_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from netdsl.errors import NetdslTuneError

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(NetdslTuneError, match="needs Optuna") as info:
        import_optuna()
    assert info.value.help == "pip install 'netdsl[tune]'"


def test_show_without_a_study_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text(HEAD + "dense choice(20, 30) -> dense 10 softmax\n")
    r = cli_run("tune", str(f), "--study", str(tmp_path / "none"), "--show")
    assert r.exit_code == 1 and "no study in" in r.output


TWO = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_tune import tuner
from conftest import builtin_registry
t = tuner(Path({tmp!r}), {text!r}, builtin_registry(), name={name!r}, storage={url!r})
t.run()
"""


def test_two_tuners_share_one_postgresql_study(tmp_path: Path) -> None:
    url = os.environ.get("NETDSL_TEST_POSTGRES")
    if not url:
        pytest.skip(
            "NETDSL_TEST_POSTGRES is not set (.ci/run starts a PostgreSQL server and sets it)"
        )
    name = f"two-{os.getpid()}-{time.time_ns()}"
    text = (
        "tune_trials: 8\ntune_sampler: random\ntune_pruner: none\n"
        "dense range(10, 90, step=10) -> dense 10 softmax\n"
    )
    env = {**os.environ, "TUNE_DOUBLE_EPOCH_SECONDS": "0.2"}
    procs = []
    for i in range(2):
        script = TWO.format(
            tests=str(Path(__file__).parent),
            tmp=str(tmp_path / str(i)),
            text=text,
            url=url,
            name=name,
        )
        procs.append(subprocess.Popen([sys.executable, "-c", script], env=env))
    for p in procs:
        assert p.wait(timeout=300) == 0
    study = import_optuna().load_study(study_name=name, storage=url)
    trained = [x for x in study.trials if x.state.name == "COMPLETE"]
    assert len(trained) == 8  # the budget, no more, no less
    folders = [x.user_attrs["folder"] for x in trained]
    assert len(set(folders)) == 8
    owners = {x.user_attrs["owner"]["pid"] for x in trained}
    assert len(owners) == 2  # both tuners ran trials
    assert len({x.number for x in study.trials}) == len(study.trials)


@pytest.mark.slow
def test_real_trials_and_best_net_reproduces_the_best_trial(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text(
        "dataset: synthetic(train_size=128, test_size=32)\ninput: 8\nepochs: 1\n"
        "validation_split: 0.25\ntune_trials: 2\ntune_sampler: grid\n"
        "dense choice(4, 8) relu -> dense 10 softmax\n"
    )
    study = tmp_path / "study"
    r = cli_run("tune", str(f), "--study", str(study), "--threads", "1")
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and (study / "best.net").exists()
    show = cli_run("tune", str(f), "--study", str(study), "--show")
    assert show.exit_code == 0 and "complete" in show.output
    best = import_optuna().load_study(study_name="m", storage=_journal(tmp_path)).best_trial
    trial_run = next(p for p in Path(best.user_attrs["folder"]).iterdir() if p.is_dir())
    again = cli_run(
        "run",
        str(study / "best.net"),
        "--out",
        str(tmp_path / "again"),
        "--quiet",
        "--threads",
        "1",
    )
    assert again.exit_code == 0, again.output
    (rerun,) = list((tmp_path / "again").iterdir())
    first = json.loads((trial_run / "history.json").read_text())["epochs"]
    second = json.loads((rerun / "history.json").read_text())["epochs"]
    assert first == second  # same program, same seed: the same training


def test_resume_needs_an_existing_study_and_run_resume_points_at_tune(tmp_path: Path) -> None:
    f = tmp_path / "m.net"
    f.write_text(HEAD + "dense choice(20, 30) -> dense 10 softmax\n")
    study = tmp_path / "study"
    r = cli_run("tune", str(f), "--study", str(study), "--resume")
    assert r.exit_code == 1 and "no study to resume in" in r.output and not study.exists()
    study.mkdir()
    (study / "journal.log").write_text("")
    r = cli_run("run", "--resume", str(study))
    assert r.exit_code == 1 and "is a study folder, not a run folder" in r.output


def test_an_option_in_no_passing_point_is_never_offered(tmp_path: Path, registry: Registry) -> None:
    text = (
        "tune_trials: 4\ntune_sampler: random\ntune_seed: 0\ntune_pruner: none\n"
        "dense 8 relu -> reshape choice(2x4, 3x3, 4x2) -> flatten -> dense 10 softmax\n"
    )
    lines: list[str] = []
    study = tuner(tmp_path, text, registry, lines).run()
    assert [x.state.name for x in study.trials] == ["COMPLETE"] * 4  # nothing refused
    assert {x.params[next(iter(x.params))] for x in study.trials} <= {"2x4", "4x2"}
    assert any("3x3 left out (in no point that passes)" in line for line in lines)


def test_a_metric_the_history_lacks_stops_the_study(tmp_path: Path, registry: Registry) -> None:
    from netdsl.errors import NetdslTuneError

    text = "tune_trials: 3\ntune_metric: val_auc\ndense choice(20, 30) -> dense 10 softmax\n"
    with pytest.raises(NetdslTuneError, match="has no `val_auc` \\(it has loss, val_accuracy\\)"):
        tuner(tmp_path, text, registry).run()
    study = import_optuna().load_study(study_name="t", storage=_journal(tmp_path))
    assert [x.state.name for x in study.trials] == ["FAIL"]


def test_a_held_out_metric_without_a_split_is_refused(tmp_path: Path, registry: Registry) -> None:
    from netdsl.errors import NetdslTuneError

    text = "validation_split: 0\ntune_metric: val_accuracy\ndense choice(20, 30) -> dense 10\n"
    space = extract(parse(HEAD.replace("validation_split: 0.25\n", "") + text, "t.net"))
    opts = TuneOptions(tmp_path / "study", "t", trial_command=DOUBLE)
    t = Tuner(space, read_tune_settings(space.tune), opts, registry, print)
    with pytest.raises(NetdslTuneError, match="holds none out"):
        t.run()
    assert not (tmp_path / "study").exists()
