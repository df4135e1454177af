"""``netdsl tune``: tune a search space with Optuna, each trial an ordinary run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from netdsl.tools.cli.terminal import State, load


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--study",
    "study_dir",
    type=click.Path(file_okay=False),
    help="The study folder (journal, trials, best.net, plots). Default: studies/<FILE's stem>.",
)
@click.option("--name", help="The study's name in its storage (default: FILE's stem).")
@click.option(
    "--storage",
    metavar="URL",
    help="An Optuna RDB storage shared by machines, e.g. postgresql://user@host/db "
    "(default: the journal file in the study folder).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Trials run at once on this machine.",
)
@click.option("--trials", type=click.IntRange(min=1), help="Overrides tune_trials.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds after which no trial starts (overrides tune_timeout).",
)
@click.option("--data", type=click.Path(), help="The dataset's file or folder (as `run`).")
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    help="TensorFlow threads per trial (as `run --threads`).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Only continue an existing study (the same command continues it anyway; with "
    "--resume a missing study is an error instead of a new study).",
)
@click.option(
    "--show",
    is_flag=True,
    help="Print the study's trials and write best.net and plots; run nothing.",
)
@click.pass_obj
def tune(
    state: State,
    /,
    file: str,
    study_dir: str | None,
    name: str | None,
    storage: str | None,
    jobs: int,
    trials: int | None,
    timeout: float | None,
    data: str | None,
    threads: int | None,
    resume: bool,
    show: bool,
) -> None:
    """Tune FILE's search space with Optuna: each trial is a `netdsl run` in its own process.

    The study lives in its folder (or --storage): running the same command again continues
    it. The program's tune_* settings choose the metric, direction, trials, sampler (tpe,
    random, grid), pruner (median, hyperband, none), tune_max_params and timeouts."""
    from netdsl.lang.space import extract
    from netdsl.search.settings import read_tune_settings
    from netdsl.search.tune import TuneOptions, Tuner

    program = load(file)
    space = extract(program)
    settings = read_tune_settings(space.tune)
    stem = Path(file).stem
    options = TuneOptions(
        Path(study_dir or Path("studies") / stem),
        name or stem,
        storage,
        jobs,
        data,
        trials,
        timeout,
        threads,
        resume=resume,
    )
    tuner = Tuner(space, settings, options, state.registry, click.echo)
    study = _open_to_show(tuner) if show else tuner.run()
    _results(tuner, study)


def _open_to_show(tuner: Any) -> Any:
    """The existing study (nothing run): its metric from the program as the tuner reads it."""
    from netdsl.errors import NetdslTuneError
    from netdsl.search.check import check_space
    from netdsl.search.study import import_optuna, open_storage
    from netdsl.search.tune import objective_of

    optuna = import_optuna()
    opts = tuner.options
    if opts.storage is None and not (opts.study_dir / "journal.log").exists():
        raise NetdslTuneError(
            f"no study in {opts.study_dir}",
            code="NDL330",
            help="run `netdsl tune FILE` first (or give --study)",
        )
    storage = open_storage(optuna, opts.study_dir, opts.storage)
    try:
        study = optuna.load_study(study_name=opts.name, storage=storage)
    except KeyError:
        raise NetdslTuneError(f"the storage has no study `{opts.name}`", code="NDL330") from None
    tuner.report = check_space(tuner.space, tuner.registry, data=opts.data)
    tuner.metric, _ = objective_of(tuner.report, tuner.settings)
    return study


def _results(tuner: Any, study: Any) -> None:
    """The table, best.net and the plots, in the study folder."""
    from netdsl.search.results import best_program, plot_study, trials_table

    click.echo(trials_table(study, tuner.space, tuner.metric))
    folder = tuner.options.study_dir
    folder.mkdir(parents=True, exist_ok=True)
    if any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        best = folder / "best.net"
        best.write_text(best_program(study, tuner.space, tuner.metric), encoding="utf-8")
        click.echo(f"wrote {best} (`netdsl run {best}` trains the best trial again)")
        try:
            paths = plot_study(study, tuner.space, tuner.metric, folder)
        except Exception as e:  # noqa: BLE001 - plots are a bonus: say why, keep the results
            click.echo(f"no plots: {e}", err=True)
        else:
            click.echo("wrote " + ", ".join(map(str, paths)))
