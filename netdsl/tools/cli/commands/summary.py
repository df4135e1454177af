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
    from netdsl.tools.flops import model_macs
    from netdsl.tools.summary import summary_text

    model = check_program(load(file), state.registry, data=data)
    macs = model_macs(model) if flops else None
    if as_json:
        data_out = model.to_dict()
        if macs is not None:
            for layer, m in zip(data_out["layers"], macs.per_layer):
                layer["macs"] = m
            data_out["total_macs"] = macs.total
            data_out["macs_unknown_layers"] = macs.unknown
        click.echo(json.dumps(data_out, indent=2))
    else:
        click.echo(summary_text(model, macs))
