"""``netdsl plot``: loss and metric curves of run folders, and classifiers' confusion matrices."""

from __future__ import annotations

from pathlib import Path

import click

from netdsl.tools.cli.terminal import fail_text


@click.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    default="curves.png",
    show_default=True,
    help="The picture of the curves; a classifier's confusion matrix goes beside it "
    "(NAME-confusion.png, one per run).",
)
def plot(folders: tuple[str, ...], output: str) -> None:
    """Plot the loss and metric curves (training and validation) of one or more run FOLDERS,
    overlaid and labelled, and each classifier run's test-set confusion matrix."""
    try:
        from netdsl.tools.plots import plot_runs
    except ImportError as e:  # pragma: no cover - exercised by test with matplotlib hidden
        fail_text(f"`netdsl plot` needs matplotlib ({e.name or e}): pip install 'netdsl[plot]'")
    written = plot_runs([Path(f) for f in folders], Path(output))
    for path in written:
        click.echo(f"wrote {path}")
