"""``netdsl emit``: a program's model as a standalone Keras program."""

from __future__ import annotations

import click

from netdsl.tools.cli.terminal import State, load, write_new


@click.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the program here (default: print it).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def emit(state: State, file: str, output: str | None, force: bool) -> None:
    """Write FILE's model as a standalone Keras program (no netdsl needed to run it).

    The program builds the same model (Sequential for a chain, functional where it branches),
    compiles it, loads the dataset and trains and evaluates with FILE's settings and seed:
    `python model.py [--data PATH] [--epochs N]`.
    """
    from netdsl.checking.checker import check as check_program
    from netdsl.keras.emit import emit_program

    program = load(file)
    model = check_program(program, state.registry)
    text = emit_program(model, None if file == "-" else file)
    if output is None:
        click.echo(text, nl=False)
        return
    write_new(output, text, force)
    click.echo(f"wrote {output}", err=True)
