"""``netdsl export``: a run folder's or ``.keras`` file's model for deployment, checked in its
own runtime. The formats are :data:`netdsl.keras.export.FORMATS`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from netdsl.keras.export import FORMATS
from netdsl.tools.cli.terminal import State, quiet_tensorflow


@click.command()
@click.argument("source", type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    required=True,
    help="savedmodel (TensorFlow Serving), onnx (ONNX Runtime), litert (.tflite, mobile).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Where to write (default: beside the model: model_savedmodel/, model.onnx, model.tflite).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def export(state: State, source: str, fmt: str, output: str | None, as_json: bool) -> None:
    """Export SOURCE (a run folder or a .keras file) for deployment, through Keras's
    Model.export. The artefact is then loaded by its own runtime and checked against the
    Keras model; a layer the format cannot take is an error naming it."""
    quiet_tensorflow(state)
    from netdsl.keras.export import default_output, export_model
    from netdsl.keras.saving import load_model, resolve_model_file

    resolve_model_file(source)  # a clear error before TensorFlow loads
    net = load_model(source, state.registry, compile=False)
    out = Path(output) if output else default_output(Path(source), fmt)
    report = export_model(net, fmt, out)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.text())
