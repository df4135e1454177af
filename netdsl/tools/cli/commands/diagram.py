"""``netdsl diagram``: a program's network drawn as a graph. The formats are
:data:`netdsl.tools.diagram.FORMATS`."""

from __future__ import annotations

import sys

import click

from netdsl.tools.cli.terminal import State, load, write_new
from netdsl.tools.diagram import FORMATS


@click.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write here; the extension picks the format: .svg, .png, .dot or .mmd.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    help="The format (default: from -o's extension; DOT when printing).",
)
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def diagram(state: State, file: str, output: str | None, fmt: str | None, force: bool) -> None:
    """Draw FILE's network: every layer with its arguments, output shape and parameters.

    Branches and residual blocks are drawn as a graph; layers the checker inserted are dashed.
    .dot (Graphviz) and .mmd (Mermaid) are text and need nothing; .svg and .png need
    `pip install 'netdsl[diagram]'` and Graphviz's `dot` program.
    """
    from netdsl.checking.checker import check as check_program
    from netdsl.lang.space import extract, has_space
    from netdsl.search.view import first_point
    from netdsl.tools.diagram import format_for, render

    program = load(file)
    if has_space(program):  # a search space: drawn at its first passing point (the caption says)
        _, model = first_point(extract(program), state.registry)
    else:
        model = check_program(program, state.registry)
    picture = render(model, format_for(output, fmt))
    if output is None:
        if isinstance(picture, bytes):
            if sys.stdout.isatty():
                click.echo(
                    "error: not writing a binary picture to the terminal; use -o FILE", err=True
                )
                sys.exit(1)
            sys.stdout.buffer.write(picture)
        else:
            click.echo(picture, nl=False)
        return
    write_new(output, picture, force)
    click.echo(f"wrote {output}", err=True)
