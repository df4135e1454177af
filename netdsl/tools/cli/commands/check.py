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
    from netdsl.lang.space import has_space
    from netdsl.vocab.isolation import stdout_to_stderr

    given = {k: v for k, v in overrides.items() if v is not None}
    results: list[dict[str, Any]] = []
    failed: list[NetdslError] = []
    # with --json, standard output is the JSON alone: what plugins write meanwhile (even with
    # os.write(1, ...)) goes to standard error
    with stdout_to_stderr() if as_json else contextlib.nullcontext():
        for path in files:  # every file is checked; the errors of all are reported together
            try:
                program = load(path)
                if has_space(program):  # a search space: every point (netdsl.search.check)
                    results.append(check_space_file(program, path, state, data, given, as_json))
                    if not results[-1]["ok"]:
                        failed.extend(results[-1].pop("raised"))
                    continue
                model = check_program(program, state.registry, data=data, overrides=given)
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
                    **(
                        {"columns": [c.to_json() for c in model.data.columns]}
                        if model.data.columns
                        else {}
                    ),
                }
            )
            if not as_json:
                _warnings(model.warnings)
                click.echo(
                    f"{path}: ok ({len(model.nodes)} layers, {model.total_params:,} parameters)"
                )
                if model.data.columns:  # a typed table: what each column is and how it is read
                    from netdsl.vocab.columns import column_table, input_lines

                    click.echo(column_table(model.data.columns))
                    if model.is_graph:  # which columns the program routes, and what `x` holds
                        click.echo(input_lines(model.inputs))
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


def check_space_file(
    program: Any, path: str, state: State, data: str | None, given: dict[str, Any], as_json: bool
) -> dict[str, Any]:
    """Check a search space (every point, or a covering set) and say its size and ranges; the
    errors of failing points go back under ``raised`` for the caller to report."""
    from netdsl.errors import NetdslErrors, NetdslSpaceError
    from netdsl.lang.space import extract
    from netdsl.search.check import check_space
    from netdsl.search.settings import read_tune_settings
    from netdsl.tools.flops import model_macs

    space = extract(program)
    tune = read_tune_settings(space.tune)
    report = check_space(
        space,
        state.registry,
        data=data,
        overrides=given,
        max_params=tune.max_params,
        macs=lambda m: model_macs(m).total,
    )
    errors = list(report.errors)
    if report.passed == 0 and not errors:
        errors.append(
            NetdslSpaceError(
                "no point of the search space passes: every one is over tune_max_params",
                space.tune[0].span if space.tune else None,
                code="NDL017",
                help="raise tune_max_params or choose smaller options",
            )
        )
    out: dict[str, Any] = {
        "file": path,
        "ok": not errors,
        "errors": [e.to_dict() for e in errors],
        "space": {
            "size": report.size,
            "continuous": report.continuous,
            "method": report.method,
            "checked": report.checked,
            "passed": report.passed,
            "failing": len(report.failing),
            "over_max_params": report.over_limit,
            "params": list(report.params) if report.params else None,
            "macs": list(report.macs) if report.macs else None,
            "parameters": [
                {"name": p.name, "space": p.describe(), "parent": list(p.parent or ()) or None}
                for p in space.params
            ],
        },
    }
    if errors:
        for e in errors:
            e.source = e.source or program.source
        out["raised"] = NetdslErrors(errors).errors
    if not as_json:
        for line in report.lines():
            click.echo(f"{path}: {line}", err=bool(errors))
        if not errors:
            click.echo(f"{path}: ok")
    return out
