"""``netdsl launch``: N local processes of one multi-process ``netdsl run``."""

from __future__ import annotations

import sys

import click

from netdsl.tools.cli.terminal import State


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "-n",
    "--num-processes",
    "n",
    type=click.IntRange(min=1, max=64),
    required=True,
    help="How many processes to start.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds the others may run on after one has failed (then they are killed); "
    "also each process's --timeout.",
)
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_obj
def launch(state: State, n: int, timeout: float, run_args: tuple[str, ...]) -> None:
    """Start N local processes of one multi-process `netdsl run` and collect their output.

    \b
      netdsl launch -n 2 model.net --epochs 1 --seed 1
    Every process gets 127.0.0.1 and a free port as coordinator, N, and its id; the jax backend
    unless --backend says otherwise. For several machines, see docs/distributed.md.
    """
    from netdsl.run.launch import launch as start

    cli_args = [
        *(["-v"] if state.verbose else []),
        *(["--no-plugins"] if state.no_plugins else []),
        *(["--strict-plugins"] if state.strict else []),
    ]
    result = start(n, list(run_args), cli_args=cli_args, timeout=timeout, native_logs=state.verbose)
    if result.ok:
        prints = set(result.weights.values())
        same = (
            f"; the same weights in every process ({prints.pop()})"
            if len(prints) == 1 and len(result.weights) == n
            else ""
        )
        click.echo(f"launch: all {n} processes finished{same}")
    else:
        codes = ", ".join(f"process {i}: {rc}" for i, rc in enumerate(result.returncodes))
        click.echo(f"launch: failed ({codes})", err=True)
    sys.exit(result.returncode)
