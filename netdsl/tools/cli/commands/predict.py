"""``netdsl predict``: a trained run's model on images, arrays or CSV rows."""

from __future__ import annotations

import json

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
    of a regression."""
    quiet_tensorflow(state)
    from netdsl.keras.predict import load_predictor, read_inputs, results_text

    predictor = load_predictor(run_folder, state.registry)
    examples = read_inputs(inputs, predictor.input_shape, predictor.columns)
    results = predictor.predict(examples, top=top)
    if as_json:
        click.echo(json.dumps({"run": run_folder, "predictions": results}, indent=2))
    else:
        click.echo(results_text(results))
