"""``netdsl parse``: syntax only (no plugins), a short account and the canonical text, or the IR."""

from __future__ import annotations

import json
from typing import Any

import click

from netdsl.tools.cli.terminal import load


@click.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the IR as JSON (Program.to_dict()).")
def parse(file: str, as_json: bool) -> None:
    """Parse FILE (syntax only, no registry; `-` reads standard input) and print what it holds:
    a short account, or with --json the IR. Exit 1 with diagnostics on stderr if it does not
    parse."""
    program = load(file)
    if as_json:
        click.echo(json.dumps(program.to_dict(), indent=2))
        return
    steps = _count_steps(program.network) if program.network else 0
    parts = [
        f"{len(program.settings)} setting{'s' if len(program.settings) != 1 else ''}",
        f"{len(program.blocks)} block{'s' if len(program.blocks) != 1 else ''}",
        f"a network of {steps} step{'s' if steps != 1 else ''}"
        if program.network
        else "no network",
    ]
    click.echo(f"{file}: parsed ({', '.join(parts)})")
    from netdsl.lang.formatter import format as format_program

    click.echo(format_program(program), nl=False)


def _count_steps(chain: Any) -> int:
    """Steps in a chain, counting those inside groups, branches and wrappers."""
    from netdsl.lang import ir

    total = 0
    for step in chain.steps:
        total += 1
        if isinstance(step, ir.Repeat):
            total += _count_steps(step.chain)
        elif isinstance(step, ir.Branches):
            total += sum(_count_steps(c) for c in step.chains)
        elif isinstance(step, ir.Layer):
            total += sum(_count_steps(c) for c in step.body)
    return total
