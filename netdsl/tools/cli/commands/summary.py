"""``netdsl summary``: layers, output shapes and parameter counts (and MACs), without TensorFlow."""

from __future__ import annotations

import json

import click

from netdsl.tools.cli.terminal import State, load


@click.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the checked model as JSON.")
@click.option(
    "--data",
    type=click.Path(),
    help="The file or folder holding the dataset (its metadata is read).",
)
@click.option(
    "--flops",
    is_flag=True,
    help="Add multiply-accumulates (MACs) per layer and in total, for one example.",
)
@click.pass_obj
def summary(state: State, file: str, as_json: bool, data: str | None, flops: bool) -> None:
    """Show FILE's layers, output shapes and parameter counts (`-` reads standard input)."""
    from netdsl.checking.checker import check as check_program
    from netdsl.lang.space import extract, has_space
    from netdsl.search.view import first_point, parameter_lines
    from netdsl.tools.flops import model_macs
    from netdsl.tools.summary import summary_text

    program = load(file)
    space_text: list[str] = []
    if has_space(program):  # a search space: its parameters, then its first passing point
        space = extract(program)
        point, model = first_point(space, state.registry, data)
        space_text = [
            *parameter_lines(space),
            f"the layers below are its first passing point: {space.describe_point(point)}",
            "",
        ]
    else:
        model = check_program(program, state.registry, data=data)
    macs = model_macs(model) if flops else None
    if as_json:
        data_out = model.to_dict()
        if macs is not None:
            for layer, m in zip(data_out["layers"], macs.per_layer):
                layer["macs"] = m
            data_out["total_macs"] = macs.total
            data_out["macs_unknown_layers"] = macs.unknown
        if space_text:
            data_out["search_space"] = space_text
        click.echo(json.dumps(data_out, indent=2))
    else:
        click.echo("\n".join([*space_text, summary_text(model, macs)]))
