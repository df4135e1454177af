"""``netdsl check``: check programs, with compiler-grade errors (no TensorFlow)."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import click

from netdsl.tools.cli.options import setting_options
from netdsl.tools.cli.terminal import State, color, fail, load


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON on stdout.")
@click.option(
    "--data",
    type=click.Path(),
    help="The file or folder holding the dataset (its metadata is read).",
)
@setting_options
@click.pass_obj
def check(
    state: State, /, files: tuple[str, ...], as_json: bool, data: str | None, **overrides: Any
) -> None:
    """Check FILES (`-` reads standard input); exit 1 if any has an error.

    The setting options check the program as `netdsl run` with them would train it
    (`--backend jax`: every component must run on JAX, and only its rules apply)."""
    from netdsl.checking.checker import check as check_program
    from netdsl.errors import NetdslError
    from netdsl.vocab.isolation import stdout_to_stderr

    given = {k: v for k, v in overrides.items() if v is not None}
    results: list[dict[str, Any]] = []
    failed: list[NetdslError] = []
    # with --json, standard output is the JSON alone: what plugins write meanwhile (even with
    # os.write(1, ...)) goes to standard error
    with stdout_to_stderr() if as_json else contextlib.nullcontext():
        for path in files:  # every file is checked; the errors of all are reported together
            try:
                model = check_program(load(path), state.registry, data=data, overrides=given)
            except NetdslError as e:
                failed.extend(e.errors)
                results.append(
                    {"file": path, "ok": False, "errors": [x.to_dict() for x in e.errors]}
                )
                continue
            results.append(
                {
                    "file": path,
                    "ok": True,
                    "errors": [],
                    "layers": len(model.nodes),
                    "params": model.total_params,
                    **(
                        {"warnings": [w.to_dict() for w in model.warnings]}
                        if model.warnings
                        else {}
                    ),
                }
            )
            if not as_json:
                _warnings(model.warnings)
                click.echo(
                    f"{path}: ok ({len(model.nodes)} layers, {model.total_params:,} parameters)"
                )
    if as_json:
        click.echo(json.dumps({"files": results}, indent=2))
        if failed:
            sys.exit(1)
    elif failed:
        fail(failed)


def _warnings(warnings: Any) -> None:
    """A graph's warnings (an unused tensor, an unread input), rendered like errors."""
    if not warnings:
        return
    from netdsl.lang.diagnostics import render_all

    click.echo(render_all(warnings, color=color()), err=True)
