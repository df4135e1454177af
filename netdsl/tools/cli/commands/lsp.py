"""``netdsl lsp``: the language server, for editors."""

from __future__ import annotations

import sys

import click

from netdsl.tools.cli.terminal import State


@click.command()
@click.option(
    "--stdio",
    is_flag=True,
    help="Talk over standard input/output (the default and only transport).",
)
@click.pass_obj
def lsp(state: State, stdio: bool) -> None:
    """Run the language server (for editors) on standard input/output."""
    try:
        from netdsl.tools.lsp import main as serve
    except ImportError as e:
        click.echo(
            f"error: the language server needs pygls ({e.name or e}): pip install 'netdsl[lsp]'",
            err=True,
        )
        sys.exit(1)
    serve(third_party=not state.no_plugins, strict=state.strict)
