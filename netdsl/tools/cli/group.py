"""The ``netdsl`` command group: its global options, its verbs loaded only when they run, and
the one place a :class:`~netdsl.errors.NetdslError` becomes terminal output.

A verb is a module of :mod:`netdsl.tools.cli.commands` plus one row of :data:`VERBS` (the first
sentence of its help, which ``netdsl --help`` lists without importing the module; a test keeps
the two equal). ``netdsl --help`` therefore imports click and this package only.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Mapping
from typing import Any

import click

from netdsl._version import __version__
from netdsl.tools.cli.terminal import State, report

__all__ = ["COMMANDS_PACKAGE", "VERBS", "NetdslGroup", "main"]

COMMANDS_PACKAGE = "netdsl.tools.cli.commands"

#: verb -> the first sentence of its help (what ``netdsl --help`` lists)
VERBS: Mapping[str, str] = {
    "check": "Check FILES (`-` reads standard input); exit 1 if any has an error.",
    "diagram": "Draw FILE's network: every layer with its arguments, output shape and parameters.",
    "emit": "Write FILE's model as a standalone Keras program (no netdsl needed to run it).",
    "export": "Export SOURCE (a run folder or a .keras file) for deployment, through Keras's "
    "Model.export.",
    "fmt": "Print FILES in canonical form (`-` reads standard input).",
    "launch": "Start N local processes of one multi-process `netdsl run` and collect their output.",
    "lsp": "Run the language server (for editors) on standard input/output.",
    "parse": "Parse FILE (syntax only, no registry; `-` reads standard input) and print what it "
    "holds: a short account, or with --json the IR.",
    "plot": "Plot the loss and metric curves (training and validation) of one or more run "
    "FOLDERS, overlaid and labelled, and each classifier run's test-set confusion matrix.",
    "plugins": "List plugins and the names they add, or show the component NAME.",
    "predict": "Run the model of RUN_FOLDER on INPUTS: image files (PNG, JPEG, ...; converted and "
    "resized to the model's input, pixels scaled to [0, 1]), .npy/.npz arrays (one "
    "input or a batch) or .csv files (one input per row).",
    "run": "Train FILE's model, evaluate it on the test set and save the run.",
    "runs": "List the run folders under ROOT (default: runs/): name, date, spec, epochs, status "
    "(a run whose process is gone shows as crashed), test loss, the main test metric "
    "(accuracy, or MAE for regression; a graph's: each output's, by name), wall time.",
    "serve": "Serve the model of RUN_FOLDER over HTTP until SIGTERM or Ctrl-C.",
    "studio": "Open the studio: a local web page to write, check, draw, train and watch networks.",
    "summary": "Show FILE's layers, output shapes and parameter counts (`-` reads standard input).",
    "tune": "Tune FILE's search space with Optuna: each trial is a `netdsl run` in its own "
    "process.",
}


class NetdslGroup(click.Group):
    """A click group whose verbs are imported on first use, and whose :meth:`invoke` renders a
    command's :class:`~netdsl.errors.NetdslError` once (exit 1), so no command handles its own."""

    def __init__(
        self,
        *args: Any,
        verbs: Mapping[str, str] = VERBS,
        package: str = COMMANDS_PACKAGE,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.verbs = verbs
        self.package = package

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.verbs, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The verb's command, importing its module now (``commands/<verb>.py``)."""
        if cmd_name not in self.verbs:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(f"{self.package}.{cmd_name}")
        command: click.Command = getattr(module, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The verbs and their first sentences, as click lists them, without importing any."""
        listed = {name: click.Command(name, help=summary) for name, summary in self.verbs.items()}
        listed.update(self.commands)
        rows = [(name, cmd) for name, cmd in sorted(listed.items()) if not cmd.hidden]
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def invoke(self, ctx: click.Context) -> Any:
        """Run the verb; a NetdslError it raises is rendered here, once, and exits 1. netdsl's
        own warnings (a plugin overriding a name, a label read as regression) print as
        ``warning: …`` lines, not as Python's ``file:line: UserWarning:`` records."""
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except Exception as exc:
            # netdsl.errors is loaded by whatever raised one; importing it here keeps --help light
            from netdsl.errors import NetdslError

            if not isinstance(exc, NetdslError):
                raise
            report(exc, verbose=isinstance(ctx.obj, State) and ctx.obj.verbose)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A warning netdsl or a plugin of it gave as one ``warning:`` line; any other as Python
    prints it."""
    text = str(message)
    ours = text.startswith("netdsl: ") or category.__name__ == "PluginWarning"
    if not ours:
        click.echo(
            warnings.formatwarning(message, category, filename, lineno, line), err=True, nl=False
        )
        return
    click.echo(f"warning: {text.removeprefix('netdsl: ')}", err=True)


@click.group(cls=NetdslGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="netdsl")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show tracebacks of failing plugins and TensorFlow's own log lines.",
)
@click.option("--no-plugins", is_flag=True, help="Load only the built-in vocabulary.")
@click.option(
    "--strict-plugins",
    is_flag=True,
    help="Make any plugin problem fatal (also NETDSL_STRICT_PLUGINS=1/true/on/yes).",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool, no_plugins: bool, strict_plugins: bool) -> None:
    """Describe, check and train neural networks from one line of text.

    \b
      netdsl check model.net       check a model, with compiler-grade errors
      netdsl summary model.net     layers, output shapes, parameter counts
      netdsl run model.net         train, evaluate, save
      netdsl predict runs/NAME/ x.png   classify inputs with a trained model
      netdsl export runs/NAME/ --format onnx   export for deployment
    """
    from netdsl.vocab.isolation import watch_interrupts

    ctx.obj = State(verbose, no_plugins, strict_plugins)
    # a KeyboardInterrupt raised by a plugin's own code is then told apart from Ctrl-C
    ctx.with_resource(watch_interrupts())
