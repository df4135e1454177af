"""``netdsl runs``: the table of run folders, filtered and sorted (no TensorFlow)."""

from __future__ import annotations

import json

import click

from netdsl.run.runs import STATUSES
from netdsl.tools.runs_view import SORT_KEYS


@click.command()
@click.argument("root", default="runs", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option(
    "--status",
    "status",
    type=click.Choice([*STATUSES, "resumed"]),
    help="Only runs with this status (resumed: runs resumed at least once).",
)
@click.option(
    "--sort",
    "sort",
    type=click.Choice(list(SORT_KEYS)),
    default="date",
    show_default=True,
    help="Order of the rows (date: newest first; accuracy: best first; mae, loss, "
    "wall: lowest first).",
)
def runs(root: str, as_json: bool, status: str | None, sort: str) -> None:
    """List the run folders under ROOT (default: runs/): name, date, spec, epochs, status
    (a run whose process is gone shows as crashed), test loss, the main test metric (accuracy,
    or MAE for regression; a graph's: each output's, by name), wall time."""
    from netdsl.run.runs import list_runs
    from netdsl.tools.runs_view import filter_sort, runs_table

    rows = filter_sort(list_runs(root), status, sort)
    if as_json:
        click.echo(json.dumps({"runs": rows}, indent=2))
    elif not rows:
        click.echo(f"no runs in {root}/" + (f" with status {status}" if status else ""), err=True)
    else:
        click.echo(runs_table(rows))
