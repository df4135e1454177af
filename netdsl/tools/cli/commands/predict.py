"""``netdsl predict``: a trained run's model on images, arrays or CSV rows."""

from __future__ import annotations

import json
from typing import Any

import click

from netdsl.tools.cli.terminal import State, quiet_tensorflow


@click.command()
@click.argument("run_folder", type=click.Path())
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option(
    "--top",
    "-k",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="How many classes to show per input.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
@click.pass_obj
def predict(
    state: State, run_folder: str, inputs: tuple[str, ...], top: int, as_json: bool
) -> None:
    """Run the model of RUN_FOLDER on INPUTS: image files (PNG, JPEG, ...; converted and resized
    to the model's input, pixels scaled to [0, 1]), .npy/.npz arrays (one input or a batch) or
    .csv files (one input per row). Prints the top classes with probabilities, or the values
    of a regression. A model of several named inputs takes NAME=FILE for each (a=a.npy
    b=b.npy), one .npz of x_NAME arrays, or one .csv whose header names the columns (a, or
    a_0, a_1, ...); each output is printed by name."""
    quiet_tensorflow(state)
    from netdsl.keras.predict import load_predictor, read_inputs, results_text

    predictor = load_predictor(run_folder, state.registry)
    if predictor.model.is_graph and not predictor.columns:  # inputs by name (predict_graph)
        from netdsl.keras.predict_graph import read_named

        examples: list[Any] = read_named(inputs, predictor.model.inputs)
    else:
        examples = read_inputs(inputs, predictor.input_shape, predictor.columns)
    results = predictor.predict(examples, top=top)
    if as_json:
        click.echo(json.dumps({"run": run_folder, "predictions": results}, indent=2))
    else:
        click.echo(results_text(results))
