"""``netdsl run``: train a program's model, evaluate it on the test set, save the run folder.

The setting overrides (``--epochs``, ``--normalize/--no-normalize``, …) are made from the
settings table (:mod:`netdsl.tools.cli.options`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from netdsl.tools.cli.options import setting_options
from netdsl.tools.cli.terminal import State, fail_text, load
from netdsl.vocab.settings import SETTINGS


@click.command()
@click.argument("file", type=click.Path(allow_dash=True), required=False)
@setting_options
@click.option(
    "--data",
    type=click.Path(),
    help="The file or folder holding the program's dataset (default: the dataset's own "
    "environment variable, e.g. $NETDSL_MNIST, then Keras's cache).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),
    default="runs",
    show_default=True,
    help="Where run folders are created.",
)
@click.option(
    "--resume",
    "resume",
    type=click.Path(file_okay=False),
    metavar="RUN_FOLDER",
    help="Finish a killed or stopped run in its folder, from its last finished epoch "
    "(FILE is then the folder's model.net).",
)
@click.option(
    "--accept-changes",
    is_flag=True,
    help="With --resume: finish the run even though its model.net or its data changed "
    "since it started (--resume refuses that otherwise); the change is recorded "
    "in the folder's fingerprint.json.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option(
    "--steps-per-execution",
    type=click.IntRange(min=1, max=1 << 20),
    help="Batches per call of the compiled training step (default 16). Higher is faster "
    "for small models (see BENCHMARKS.md); same weights for a given seed, coarser "
    "progress bar.",
)
@click.option(
    "--jit/--no-jit",
    "jit",
    default=None,
    help="Compile the training step with XLA. Default: Keras's choice (off on a CPU-only "
    "machine, where it measured no faster; see BENCHMARKS.md).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=4096),
    help="TensorFlow threads (intra- and inter-op). Default: TensorFlow's (every core).",
)
@click.option(
    "--distribute",
    is_flag=True,
    help="Train data-parallel on every device of this machine (MirroredStrategy on "
    "tensorflow, DataParallel on jax). The batch size is the global batch.",
)
@click.option(
    "--coordinator",
    metavar="HOST:PORT",
    help="Multi-process training (jax backend): process 0's address and port, the same "
    "for every process. Default: $KERAS_DISTRIBUTION_JOB_ADDRESSES or "
    "$JAX_COORDINATOR_ADDRESS.",
)
@click.option(
    "--num-processes",
    type=click.IntRange(min=1, max=1 << 16),
    help="Multi-process: how many processes (default: $KERAS_DISTRIBUTION_NUM_PROCESSES).",
)
@click.option(
    "--process-id",
    type=click.IntRange(min=0, max=1 << 16),
    help="Multi-process: this process, 0..N-1; 0 writes the run folder "
    "(default: $KERAS_DISTRIBUTION_PROCESS_ID).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Multi-process: seconds to wait for the others to join, or for a silent one, "
    "before stopping with an error (default 60).",
)
@click.pass_obj
def run(state: State, /, **params: Any) -> None:
    """Train FILE's model, evaluate it on the test set and save the run.

    --steps-per-execution, --jit and --threads change how fast training runs on this machine,
    never what the model is; metrics.json records them. --distribute and the multi-process
    options are described in docs/distributed.md. Exit status: 0 finished, 1 failed,
    130 stopped by Ctrl-C, 143 stopped by SIGTERM (finished epochs are kept either way),
    before the run folder exists too.
    """
    from netdsl.run.runs import EXIT_CODES, signals_stop

    overrides = {row.name: params.pop(row.name) for row in SETTINGS if row.flag}
    request = RunRequest(**params, overrides=overrides)
    try:
        with signals_stop():
            report = _train(state, request)
    except KeyboardInterrupt as e:  # before the run folder was made (or, resuming, touched)
        reason = getattr(e, "reason", "interrupt")
        why = "interrupted" if reason == "interrupt" else f"stopped by {reason}"
        kept = (
            "the run folder is as it was"
            if request.resume is not None
            else "no run folder was made"
        )
        click.echo(f"{why} before training started; {kept}", err=True)
        sys.exit(EXIT_CODES[reason])
    click.echo(report.text())
    if report.stopped:
        sys.exit(EXIT_CODES.get(report.stopped, 1))


@dataclass(frozen=True)
class RunRequest:
    """What `netdsl run` was asked: the program or run folder, where the data and the run go,
    the speed and cluster options, and the setting overrides (None: not given)."""

    file: str | None
    data: str | None
    out_dir: str
    resume: str | None
    accept_changes: bool
    quiet: bool
    steps_per_execution: int | None
    jit: bool | None
    threads: int | None
    distribute: bool
    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    timeout: float | None
    overrides: dict[str, Any]


def _train(state: State, request: RunRequest) -> Any:
    """``run``'s body: check, then train or resume; the report."""
    from netdsl.checking.checker import check as check_program
    from netdsl.errors import NetdslTrainingError

    file, data, resume = request.file, request.data, request.resume
    if state.verbose:  # TensorFlow's own log lines: shown with -v only
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ["NETDSL_TF_LOGS"] = "1"
    given = {k: v for k, v in request.overrides.items() if v is not None}
    if resume is not None:
        if file is not None or given:
            raise click.UsageError(
                "--resume continues a run as it was: give no FILE and no setting overrides"
            )
        file = os.path.join(resume, "model.net")
        if os.path.isfile(os.path.join(resume, "journal.log")):  # a `netdsl tune` study
            fail_text(
                f"{resume} is a study folder, not a run folder: running the same `netdsl tune "
                "FILE` again continues the study (its trials' run folders are under trials/)"
            )
        if not os.path.isfile(file):
            fail_text(f"{resume} is not a run folder (it has no model.net)")
        from netdsl.run.driver import resume_data

        data = resume_data(resume, data)  # where the run found it: check reads it too
    elif file is None:
        raise click.UsageError("give a FILE to train, or --resume RUN_FOLDER")
    if request.accept_changes and resume is None:
        raise click.UsageError("--accept-changes goes with --resume RUN_FOLDER")
    # the overrides are part of the check: every rule (the backend's included) sees them
    model = check_program(load(file), state.registry, data=data, overrides=given)
    from netdsl.keras.distribute import Cluster
    from netdsl.keras.training import TrainOptions
    from netdsl.run.driver import resume_run, run_model

    cluster = Cluster.resolve(
        request.coordinator, request.num_processes, request.process_id, request.timeout
    )
    speed = (
        {"steps_per_execution": request.steps_per_execution} if request.steps_per_execution else {}
    )
    if resume is not None and cluster is not None and cluster.num_processes > 1:
        raise NetdslTrainingError(
            "--resume continues a run in one process; a multi-process run cannot be resumed",
            code="NDL322",
            help="start a new multi-process run, or resume this folder in one "
            "process without --coordinator (add --distribute for every "
            "local device)",
        )
    options = (
        TrainOptions(
            **speed,
            jit_compile=request.jit,
            threads=request.threads,
            distribute=request.distribute,
            cluster=cluster,
        )
        if speed
        or request.jit is not None
        or request.threads
        or request.distribute
        or cluster is not None
        else (None if resume else TrainOptions())
    )
    echo = lambda text: click.echo(text, err=True)  # noqa: E731
    if resume is not None:
        return resume_run(
            resume,
            model,
            data=data,
            quiet=request.quiet,
            echo=echo,
            options=options,
            accept_changes=request.accept_changes,
        )
    return run_model(
        model, data=data, out_dir=request.out_dir, quiet=request.quiet, echo=echo, options=options
    )
