"""The ``netdsl`` command: a thin layer that turns terminal input into library calls and back.

Nothing heavy is imported at module level: ``netdsl --help`` and ``netdsl check`` never load
TensorFlow; ``netdsl run`` does, through :mod:`netdsl.keras.training`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from ..errors import NetdslError
    from ..vocab.registry import Registry

__all__ = ["main"]


class _State:
    """Options shared by every verb, and the registry, loaded on first use."""

    def __init__(self, verbose: bool, no_plugins: bool, strict: bool) -> None:
        self.verbose = verbose
        self.no_plugins = no_plugins
        self.strict = strict or None
        self._registry: Registry | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from ..errors import NetdslError
            from ..vocab.registry import load_registry

            try:
                self._registry = load_registry(third_party=not self.no_plugins, strict=self.strict,
                                               on_problem=self._warn, on_notice=self._notice)
            except NetdslError as e:
                _fail([e])
            if self.verbose:
                for info in self._registry.slow_plugins():
                    click.echo(f"note: plugin {info.provider} took {info.seconds:.1f} s to load "
                               f"({info.provider.plugin})", err=True)
        return self._registry

    def _notice(self, message: str) -> None:
        click.echo(_styled(f"warning: {message}", "yellow"), err=True)

    def _warn(self, err: NetdslError) -> None:
        click.echo(_styled(f"warning: {err.message}", "yellow"), err=True)
        tb = getattr(err, "traceback", None)
        if self.verbose and tb:
            click.echo(tb.rstrip(), err=True)


def _color() -> bool:
    return "NO_COLOR" not in os.environ and sys.stderr.isatty()


def _styled(text: str, fg: str) -> str:
    return click.style(text, fg=fg, bold=True) if _color() else text


def _fail(errors: list[NetdslError], code: int = 1) -> NoReturn:
    from ..lang.diagnostics import render_all

    click.echo(render_all(errors, color=_color()), err=True)
    sys.exit(code)


def _read(path: str) -> tuple[bytes, str]:
    """The bytes of a file (``-`` is standard input) and the name errors should show.

    Reads at most one byte more than :data:`netdsl.lang.parser.MAX_INPUT_BYTES` (10 MB), so
    ``/dev/zero`` or a huge file is refused (``NDL012``) without being read whole."""
    from ..lang.parser import MAX_INPUT_BYTES, check_size

    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)  # bytes: the parser reports bad UTF-8 itself
        if stream is not None:
            data = stream.read(MAX_INPUT_BYTES + 1)
        else:
            data = sys.stdin.read(MAX_INPUT_BYTES + 1).encode("utf-8", "surrogateescape")
        name = "<stdin>"
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
        except OSError as e:
            raise click.FileError(path, hint=e.strerror) from None
        name = path
    check_size(len(data), name)
    return data, name


def _load(path: str) -> Any:
    from ..lang.parser import parse
    from ..vocab.settings import TABLE

    data, name = _read(path)
    return parse(data, name, setting_names=TABLE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="netdsl")
@click.option("-v", "--verbose", is_flag=True,
              help="Show tracebacks of failing plugins and TensorFlow's own log lines.")
@click.option("--no-plugins", is_flag=True, help="Load only the built-in vocabulary.")
@click.option("--strict-plugins", is_flag=True,
              help="Make any plugin problem fatal (also NETDSL_STRICT_PLUGINS=1/true/on/yes).")
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
    from ..vocab.isolation import watch_interrupts

    ctx.obj = _State(verbose, no_plugins, strict_plugins)
    # a KeyboardInterrupt raised by a plugin's own code is then told apart from Ctrl-C
    ctx.with_resource(watch_interrupts())


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print diagnostics as JSON on stdout.")
@click.option("--data", type=click.Path(), help="The file or folder holding the dataset (its metadata is read).")
@click.option("--backend", type=click.Choice(["tensorflow", "jax"]),
              help="Also check that every component runs on this Keras backend.")
@click.pass_obj
def check(state: _State, files: tuple[str, ...], as_json: bool, data: str | None,
          backend: str | None) -> None:
    """Check FILES (`-` reads standard input); exit 1 if any has an error."""
    from ..checking.backends import problems as backend_problems
    from ..checking.checker import check as check_program
    from ..errors import NetdslError, NetdslErrors
    from ..lang.diagnostics import render_all
    from ..vocab.isolation import stdout_to_stderr

    results: list[dict[str, Any]] = []
    failed: list[NetdslError] = []
    # with --json, standard output is the JSON alone: what plugins write meanwhile (even with
    # os.write(1, ...)) goes to standard error
    with stdout_to_stderr() if as_json else contextlib.nullcontext():
        for path in files:
            try:
                model = check_program(_load(path), state.registry, data=data)
                found = backend_problems(model, backend) if backend else []
                if found:
                    raise found[0] if len(found) == 1 else NetdslErrors(found)
            except NetdslError as e:
                failed.extend(e.errors)
                results.append({"file": path, "ok": False, "errors": [x.to_dict() for x in e.errors]})
                continue
            results.append({"file": path, "ok": True, "errors": [], "layers": len(model.nodes),
                            "params": model.total_params})
            if not as_json:
                click.echo(f"{path}: ok ({len(model.nodes)} layers, {model.total_params:,} parameters)")
    if as_json:
        click.echo(json.dumps({"files": results}, indent=2))
    elif failed:
        click.echo(render_all(failed, color=_color()), err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the IR as JSON (Program.to_dict()).")
def parse(file: str, as_json: bool) -> None:
    """Parse FILE (syntax only, no registry; `-` reads standard input) and print what it holds:
    a short account, or with --json the IR. Exit 1 with diagnostics on stderr if it does not parse."""
    from ..errors import NetdslError

    try:
        program = _load(file)
    except NetdslError as e:
        _fail(list(e.errors))
    if as_json:
        click.echo(json.dumps(program.to_dict(), indent=2))
        return
    steps = _count_steps(program.network) if program.network else 0
    parts = [f"{len(program.settings)} setting{'s' if len(program.settings) != 1 else ''}",
             f"{len(program.blocks)} block{'s' if len(program.blocks) != 1 else ''}",
             f"a network of {steps} step{'s' if steps != 1 else ''}" if program.network else "no network"]
    click.echo(f"{file}: parsed ({', '.join(parts)})")
    from ..lang.formatter import format as format_program

    click.echo(format_program(program), nl=False)


def _count_steps(chain: Any) -> int:
    """Steps in a chain, counting those inside groups, branches and wrappers."""
    from ..lang import ir

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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if a file is not canonical.")
@click.option("--write", is_flag=True, help="Rewrite each file in place (comments are kept).")
def fmt(files: tuple[str, ...], check_only: bool, write: bool) -> None:
    """Print FILES in canonical form (`-` reads standard input)."""
    from ..errors import NetdslError
    from ..lang.formatter import format as format_program
    from ..lang.parser import parse
    from ..vocab.settings import TABLE
    from .files import BOM, rewrite

    if check_only and write:
        raise click.UsageError("--check and --write do not go together")
    if write and "-" in files:
        raise click.UsageError("--write cannot rewrite standard input")
    changed: list[str] = []
    errors: list[NetdslError] = []
    for path in files:
        try:
            data, name = _read(path)
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
        _fail(errors)
    if check_only and changed:
        for path in changed:
            click.echo(f"would reformat {path}", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print the checked model as JSON.")
@click.option("--data", type=click.Path(), help="The file or folder holding the dataset (its metadata is read).")
@click.option("--flops", is_flag=True,
              help="Add multiply-accumulates (MACs) per layer and in total, for one example.")
@click.pass_obj
def summary(state: _State, file: str, as_json: bool, data: str | None, flops: bool) -> None:
    """Show FILE's layers, output shapes and parameter counts (`-` reads standard input)."""
    from ..checking.checker import check as check_program
    from ..errors import NetdslError
    from .flops import model_macs
    from .summary import summary_text

    try:
        model = check_program(_load(file), state.registry, data=data)
    except NetdslError as e:
        _fail(list(e.errors))
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


@main.command()
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include the built-in vocabulary.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def plugins(state: _State, name: str | None, show_all: bool, as_json: bool) -> None:
    """List plugins and the names they add, or show the component NAME."""
    from .plugins_view import component_text, components_json, plugins_json, plugins_text

    registry = state.registry
    if name:
        found = components_json(registry, name)
        if not found:
            from ..vocab.registry import suggest

            pool = [e.component.name for e in registry.entries()]
            close = suggest(name, pool)
            click.echo(f"error: no component named `{name}`"
                       + (f"; did you mean `{close}`?" if close else ""), err=True)
            sys.exit(1)
        click.echo(json.dumps(found, indent=2) if as_json else component_text(registry, name))
        return
    if as_json:
        click.echo(json.dumps(plugins_json(registry, show_all), indent=2))
    else:
        click.echo(plugins_text(registry, show_all))


def _setting_options(command: Any) -> Any:
    """One ``--NAME`` override per setting the table marks as a flag; the table's own type
    validates the value (click only reads a number)."""
    from ..vocab import types as T
    from ..vocab.settings import SETTINGS

    for row in reversed([r for r in SETTINGS if r.flag]):
        kind = int if isinstance(row.type, T.Int) else float if isinstance(row.type, T.Float) else str
        command = click.option(row.option, row.name, type=kind, default=None,
                               help=f"Override the program's `{row.name}:` ({row.help}).")(command)
    return command


@main.command()
@click.argument("file", type=click.Path(allow_dash=True), required=False)
@_setting_options
@click.option("--data", type=click.Path(),
              help="The file or folder holding the program's dataset (default: the dataset's own "
                   "environment variable, e.g. $NETDSL_MNIST, then Keras's cache).")
@click.option("--out", "out_dir", type=click.Path(), default="runs", show_default=True,
              help="Where run folders are created.")
@click.option("--resume", "resume", type=click.Path(file_okay=False), metavar="RUN_FOLDER",
              help="Finish a killed or stopped run in its folder, from its last finished epoch "
                   "(FILE is then the folder's model.net).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option("--steps-per-execution", type=click.IntRange(min=1, max=1 << 20),
              help="Batches per call of the compiled training step (default 16). Higher is faster "
                   "for small models (see BENCHMARKS.md); same weights for a given seed, coarser "
                   "progress bar.")
@click.option("--jit/--no-jit", "jit", default=None,
              help="Compile the training step with XLA. Default: Keras's choice (off on a CPU-only "
                   "machine, where it measured no faster; see BENCHMARKS.md).")
@click.option("--threads", type=click.IntRange(min=1, max=4096),
              help="TensorFlow threads (intra- and inter-op). Default: TensorFlow's (every core).")
@click.option("--distribute", is_flag=True,
              help="Train data-parallel on every device of this machine (MirroredStrategy on "
                   "tensorflow, DataParallel on jax). The batch size is the global batch.")
@click.option("--coordinator", metavar="HOST:PORT",
              help="Multi-process training (jax backend): process 0's address and port, the same "
                   "for every process. Default: $KERAS_DISTRIBUTION_JOB_ADDRESSES or "
                   "$JAX_COORDINATOR_ADDRESS.")
@click.option("--num-processes", type=click.IntRange(min=1, max=1 << 16),
              help="Multi-process: how many processes (default: $KERAS_DISTRIBUTION_NUM_PROCESSES).")
@click.option("--process-id", type=click.IntRange(min=0, max=1 << 16),
              help="Multi-process: this process, 0..N-1; 0 writes the run folder "
                   "(default: $KERAS_DISTRIBUTION_PROCESS_ID).")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Multi-process: seconds to wait for the others to join, or for a silent one, "
                   "before stopping with an error (default 60).")
@click.pass_obj
def run(state: _State, file: str | None, data: str | None, out_dir: str, resume: str | None, quiet: bool,
        steps_per_execution: int | None, jit: bool | None, threads: int | None, distribute: bool,
        coordinator: str | None, num_processes: int | None, process_id: int | None,
        timeout: float | None, **overrides: Any) -> None:
    """Train FILE's model, evaluate it on the test set and save the run.

    --steps-per-execution, --jit and --threads change how fast training runs on this machine,
    never what the model is; metrics.json records them. --distribute and the multi-process
    options are described in docs/distributed.md. Exit status: 0 finished, 1 failed,
    130 stopped by Ctrl-C, 143 stopped by SIGTERM (finished epochs are kept either way).
    """
    from ..checking.checker import check as check_program
    from ..errors import NetdslError, NetdslTrainingError

    if state.verbose:  # TensorFlow's own log lines: shown with -v only
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ["NETDSL_TF_LOGS"] = "1"
    given = {k: v for k, v in overrides.items() if v is not None}
    if resume is not None:
        if file is not None or given:
            raise click.UsageError("--resume continues a run as it was: give no FILE and no setting overrides")
        file = os.path.join(resume, "model.net")
        if not os.path.isfile(file):
            _fail_text(f"{resume} is not a run folder (it has no model.net)")
    elif file is None:
        raise click.UsageError("give a FILE to train, or --resume RUN_FOLDER")
    try:
        model = check_program(_load(file), state.registry, data=data)
        model = model.replace(**given)
        from ..checking.backends import problems as backend_problems
        from ..keras.distribute import Cluster
        from ..keras.training import TrainOptions
        from ..run.driver import resume_run, run_model
        from ..vocab.backends import resolve

        found = backend_problems(model, resolve(model.settings["backend"]))
        if found:
            _fail(found)
        cluster = Cluster.resolve(coordinator, num_processes, process_id, timeout)
        speed = {"steps_per_execution": steps_per_execution} if steps_per_execution else {}
        if resume is not None and cluster is not None and cluster.num_processes > 1:
            raise NetdslTrainingError(
                "--resume continues a run in one process; a multi-process run cannot be resumed",
                code="NDL322", help="start a new multi-process run, or resume this folder in one "
                                    "process without --coordinator (add --distribute for every local device)")
        options = TrainOptions(**speed, jit_compile=jit, threads=threads, distribute=distribute, cluster=cluster) \
            if speed or jit is not None or threads or distribute or cluster is not None \
            else (None if resume else TrainOptions())
        echo = lambda text: click.echo(text, err=True)  # noqa: E731 - a one-line sink
        if resume is not None:
            report = resume_run(resume, model, data=data, quiet=quiet, echo=echo, options=options)
        else:
            report = run_model(model, data=data, out_dir=out_dir, quiet=quiet, echo=echo, options=options)
    except NetdslError as e:
        tb = getattr(e, "traceback", None)
        if state.verbose and tb:
            click.echo(tb.rstrip(), err=True)
        _fail(list(e.errors))
    click.echo(report.text())
    if report.stopped:
        from ..run.runs import EXIT_CODES

        sys.exit(EXIT_CODES.get(report.stopped, 1))


def _fail_text(message: str) -> NoReturn:
    click.echo(_styled("error", "red") + f": {message}", err=True)
    sys.exit(1)


@main.command()
@click.argument("root", default="runs", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option("--status", "status", type=click.Choice(["running", "finished", "stopped", "failed", "crashed",
                                                       "resumed"]),
              help="Only runs with this status (resumed: runs resumed at least once).")
@click.option("--sort", "sort", type=click.Choice(["date", "name", "accuracy", "loss", "wall"]), default="date",
              show_default=True, help="Order of the rows (date: newest first).")
def runs(root: str, as_json: bool, status: str | None, sort: str) -> None:
    """List the run folders under ROOT (default: runs/): name, date, spec, epochs, status, test
    metrics, wall time."""
    from ..run.runs import list_runs
    from .runs_view import filter_sort, runs_table

    rows = filter_sort(list_runs(root), status, sort)
    if as_json:
        click.echo(json.dumps({"runs": rows}, indent=2))
    elif not rows:
        click.echo(f"no runs in {root}/" + (f" with status {status}" if status else ""), err=True)
    else:
        click.echo(runs_table(rows))


@main.command()
@click.argument("folders", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), default="curves.png", show_default=True,
              help="The picture of the curves; a classifier's confusion matrix goes beside it "
                   "(NAME-confusion.png, one per run).")
def plot(folders: tuple[str, ...], output: str) -> None:
    """Plot the loss and metric curves (training and validation) of one or more run FOLDERS,
    overlaid and labelled, and each classifier run's test-set confusion matrix."""
    from ..errors import NetdslError

    try:
        from .plots import plot_runs
    except ImportError as e:  # pragma: no cover - exercised by test with matplotlib hidden
        _fail_text(f"`netdsl plot` needs matplotlib ({e.name or e}): pip install 'netdsl[plot]'")
    try:
        written = plot_runs([Path(f) for f in folders], Path(output))
    except NetdslError as e:
        _fail([e])
    for path in written:
        click.echo(f"wrote {path}")


def _quiet_tensorflow(state: _State) -> None:
    """TensorFlow's C++ log lines only with -v."""
    if not state.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    else:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"


@main.command()
@click.argument("source", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["savedmodel", "onnx", "litert"]), required=True,
              help="savedmodel (TensorFlow Serving), onnx (ONNX Runtime), litert (.tflite, mobile).")
@click.option("-o", "--output", type=click.Path(),
              help="Where to write (default: beside the model: model_savedmodel/, model.onnx, model.tflite).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def export(state: _State, source: str, fmt: str, output: str | None, as_json: bool) -> None:
    """Export SOURCE (a run folder or a .keras file) for deployment, through Keras's
    Model.export. The artefact is then loaded by its own runtime and checked against the
    Keras model; a layer the format cannot take is an error naming it."""
    from pathlib import Path

    from ..errors import NetdslError

    _quiet_tensorflow(state)
    try:
        from ..keras.export import default_output, export_model
        from ..keras.saving import load_model, resolve_model_file

        resolve_model_file(source)  # a clear error before TensorFlow loads
        net = load_model(source, state.registry, compile=False)
        out = Path(output) if output else default_output(Path(source), fmt)
        report = export_model(net, fmt, out)
    except NetdslError as e:
        _fail(list(e.errors))
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.text())


@main.command()
@click.argument("run_folder", type=click.Path())
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--top", "-k", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many classes to show per input.")
@click.option("--json", "as_json", is_flag=True, help="Print the predictions as JSON.")
@click.pass_obj
def predict(state: _State, run_folder: str, inputs: tuple[str, ...], top: int, as_json: bool) -> None:
    """Run the model of RUN_FOLDER on INPUTS: image files (PNG, JPEG, ...; converted and resized
    to the model's input, pixels scaled to [0, 1]), .npy/.npz arrays (one input or a batch) or
    .csv files (one input per row). Prints the top classes with probabilities, or the values
    of a regression."""
    from ..errors import NetdslError

    _quiet_tensorflow(state)
    try:
        from ..keras.predict import load_predictor, read_inputs, results_text

        predictor = load_predictor(run_folder, state.registry)
        examples = read_inputs(inputs, predictor.input_shape)
        results = predictor.predict(examples, top=top)
    except NetdslError as e:
        _fail(list(e.errors))
    if as_json:
        click.echo(json.dumps({"run": run_folder, "predictions": results}, indent=2))
    else:
        click.echo(results_text(results))


def _write_new(path: str, data: str | bytes, force: bool) -> None:
    """Write an output file; an existing file is kept unless ``--force`` (nothing is lost)."""
    if os.path.exists(path) and not force:
        click.echo(f"error: {path} exists; choose another -o or pass --force to replace it", err=True)
        sys.exit(1)
    try:
        if isinstance(data, bytes):
            with open(path, "wb") as fb:
                fb.write(data)
        else:
            with open(path, "w", encoding="utf-8") as ft:
                ft.write(data)
    except OSError as e:
        raise click.FileError(path, hint=e.strerror) from None


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the program here (default: print it).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def emit(state: _State, file: str, output: str | None, force: bool) -> None:
    """Write FILE's model as a standalone Keras program (no netdsl needed to run it).

    The program builds the same model (Sequential for a chain, functional where it branches),
    compiles it, loads the dataset and trains and evaluates with FILE's settings and seed:
    `python model.py [--data PATH] [--epochs N]`.
    """
    from ..checking.checker import check as check_program
    from ..errors import NetdslError
    from ..keras.emit import emit_program

    try:
        program = _load(file)
        model = check_program(program, state.registry)
        text = emit_program(model, None if file == "-" else file)
    except NetdslError as e:
        _fail(list(e.errors))
    if output is None:
        click.echo(text, nl=False)
        return
    _write_new(output, text, force)
    click.echo(f"wrote {output}", err=True)


@main.command()
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write here; the extension picks the format: .svg, .png, .dot or .mmd.")
@click.option("--format", "fmt", type=click.Choice(["svg", "png", "dot", "mmd"]),
              help="The format (default: from -o's extension; DOT when printing).")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@click.pass_obj
def diagram(state: _State, file: str, output: str | None, fmt: str | None, force: bool) -> None:
    """Draw FILE's network: every layer with its arguments, output shape and parameters.

    Branches and residual blocks are drawn as a graph; layers the checker inserted are dashed.
    .dot (Graphviz) and .mmd (Mermaid) are text and need nothing; .svg and .png need
    `pip install 'netdsl[diagram]'` and Graphviz's `dot` program.
    """
    from ..checking.checker import check as check_program
    from ..errors import NetdslError
    from .diagram import format_for, render

    try:
        model = check_program(_load(file), state.registry)
        picture = render(model, format_for(output, fmt))
    except NetdslError as e:
        _fail(list(e.errors))
    if output is None:
        if isinstance(picture, bytes):
            if sys.stdout.isatty():
                click.echo("error: not writing a binary picture to the terminal; use -o FILE", err=True)
                sys.exit(1)
            sys.stdout.buffer.write(picture)
        else:
            click.echo(picture, nl=False)
        return
    _write_new(output, picture, force)
    click.echo(f"wrote {output}", err=True)


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-n", "--num-processes", "n", type=click.IntRange(min=1, max=64), required=True,
              help="How many processes to start.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds the others may run on after one has failed (then they are killed); "
                   "also each process's --timeout.")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, required=True)
@click.pass_obj
def launch(state: _State, n: int, timeout: float, run_args: tuple[str, ...]) -> None:
    """Start N local processes of one multi-process `netdsl run` and collect their output.

    \b
      netdsl launch -n 2 model.net --epochs 1 --seed 1
    Every process gets 127.0.0.1 and a free port as coordinator, N, and its id; the jax backend
    unless --backend says otherwise. For several machines, see docs/distributed.md.
    """
    from ..run.launch import launch as start

    cli_args = [*(["-v"] if state.verbose else []), *(["--no-plugins"] if state.no_plugins else []),
                *(["--strict-plugins"] if state.strict else [])]
    result = start(n, list(run_args), cli_args=cli_args, timeout=timeout)
    if result.ok:
        prints = set(result.weights.values())
        same = (f"; the same weights in every process ({prints.pop()})" if len(prints) == 1
                and len(result.weights) == n else "")
        click.echo(f"launch: all {n} processes finished{same}")
    else:
        codes = ", ".join(f"process {i}: {rc}" for i, rc in enumerate(result.returncodes))
        click.echo(f"launch: failed ({codes})", err=True)
    sys.exit(result.returncode)


@main.command()
@click.option("--stdio", is_flag=True, help="Talk over standard input/output (the default and only transport).")
@click.pass_obj
def lsp(state: _State, stdio: bool) -> None:
    """Run the language server (for editors) on standard input/output."""
    try:
        from .lsp import main as serve
    except ImportError as e:
        click.echo(f"error: the language server needs pygls ({e.name or e}): pip install 'netdsl[lsp]'", err=True)
        sys.exit(1)
    serve(third_party=not state.no_plugins, strict=state.strict)


if __name__ == "__main__":  # pragma: no cover
    main()
