"""``netdsl emit``: a program's model as a standalone Keras program."""

from __future__ import annotations

import click

from netdsl.tools.cli.terminal import State, load, write_new


@click.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the program here (default: print it).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def emit(state: State, file: str, output: str | None, force: bool) -> None:
    """Write FILE's model as a standalone Keras program (no netdsl needed to run it). FILE
    may be a run folder (or its model.net): what the run recorded stands in for the data.

    The program builds the same model (Sequential for a chain, functional where it branches),
    compiles it, loads the dataset and trains and evaluates with FILE's settings and seed:
    `python model.py [--data PATH] [--epochs N]`.
    """
    from netdsl.checking.checker import check as check_program
    from netdsl.checking.recorded import check_run, recorded_data_path, run_folder_of
    from netdsl.keras.emit import emit_program

    folder = None if file == "-" else run_folder_of(file)
    if folder is not None:  # a run folder: its record stands in for the data
        model = check_run(folder, state.registry)
        text = emit_program(model, str(folder / "model.net"), recorded_data_path(folder))
    else:
        model = check_program(load(file), state.registry)
        text = emit_program(model, None if file == "-" else file)
    if output is None:
        click.echo(text, nl=False)
        return
    write_new(output, text, force)
    click.echo(f"wrote {output}", err=True)
