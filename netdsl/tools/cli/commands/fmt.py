"""``netdsl fmt``: print or rewrite programs in canonical form, keeping comments."""

from __future__ import annotations

import sys

import click

from netdsl.tools.cli.terminal import fail, read


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if a file is not canonical.")
@click.option("--write", is_flag=True, help="Rewrite each file in place (comments are kept).")
def fmt(files: tuple[str, ...], check_only: bool, write: bool) -> None:
    """Print FILES in canonical form (`-` reads standard input)."""
    from netdsl.errors import NetdslError
    from netdsl.lang.formatter import format as format_program
    from netdsl.lang.parser import parse
    from netdsl.tools.files import BOM, rewrite
    from netdsl.vocab.settings import TABLE

    if check_only and write:
        raise click.UsageError("--check and --write do not go together")
    if write and "-" in files:
        raise click.UsageError("--write cannot rewrite standard input")
    changed: list[str] = []
    errors: list[NetdslError] = []
    for path in files:  # every file is formatted; the errors of all are reported together
        try:
            data, name = read(path)
            program = parse(data, name, setting_names=TABLE)
        except NetdslError as e:
            errors.extend(e.errors)
            continue
        text = format_program(program)
        original = program.source or ""
        if "\r\n" in original:
            text = text.replace("\n", "\r\n")
        bom = BOM if data.startswith(BOM.encode("utf-8")) else ""  # kept: some tools need it
        if text != original:
            changed.append(path)
        if check_only:
            continue
        if not write:
            click.echo(text, nl=False)
        elif text != original:
            try:
                rewrite(path, bom + text)
            except NetdslError as e:
                errors.append(e)
                continue
            click.echo(f"formatted {path}", err=True)
    if errors:
        fail(errors)
    if check_only and changed:
        for path in changed:
            click.echo(f"would reformat {path}", err=True)
        sys.exit(1)
