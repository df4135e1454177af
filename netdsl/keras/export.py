"""``netdsl export``: a trained model as a SavedModel, an ONNX file or a LiteRT (.tflite) file.

Every format goes through Keras's own ``Model.export``. After writing, the artefact is loaded by
its own runtime (``tf.saved_model.load``, ``onnxruntime``, the LiteRT interpreter) and run on
inputs; its outputs are compared with the Keras model's, so an export that does not reproduce
the model is never reported as done. A format that cannot take a layer fails naming the layer.

A graph's model (named inputs and outputs, dicts by name) is exported with its names: every
format's signature takes the inputs and gives the outputs by name, and every output is compared.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NetdslError, NetdslExportError

__all__ = [
    "FORMATS",
    "ExportFormat",
    "ExportReport",
    "NetdslExportError",
    "default_output",
    "export_model",
    "input_shapes",
    "is_named",
    "runtime_outputs",
]

#: inputs or outputs by name (a graph's model), or one array (a chain's)
Arrays = np.ndarray | dict[str, np.ndarray]


@dataclass(frozen=True)
class ExportFormat:
    """One output format: Keras's name for it, the file suffix, the packages it needs."""

    name: str
    keras_format: str
    suffix: str  # "" for a folder
    needs: tuple[str, ...]  # modules to export (beyond TensorFlow)
    runtime: str  # what loads it back, in words
    runtime_needs: tuple[str, ...]


#: the formats ``netdsl export --format`` takes
FORMATS: Mapping[str, ExportFormat] = {
    "savedmodel": ExportFormat("savedmodel", "tf_saved_model", "", (), "tf.saved_model.load", ()),
    "onnx": ExportFormat(
        "onnx", "onnx", ".onnx", ("tf2onnx", "onnx"), "onnxruntime", ("onnxruntime",)
    ),
    "litert": ExportFormat("litert", "litert", ".tflite", (), "the LiteRT interpreter", ()),
}

_INSTALL = "pip install 'netdsl[export]'"


@dataclass
class ExportReport:
    """What was written, and how closely its runtime reproduced the Keras model."""

    path: Path
    format: str
    input_shape: tuple[int | None, ...]
    max_abs_diff: float | None  # None when the runtime is not installed
    examples: int
    note: str = ""
    #: a graph's model: each input's shape by name, and each output's largest difference
    inputs: dict[str, tuple[int | None, ...]] | None = None
    output_diffs: dict[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        named = {}
        if self.inputs is not None:
            named = {
                "inputs": {k: list(v) for k, v in self.inputs.items()},
                "outputs": dict(self.output_diffs or {}),
            }
        return {
            "path": str(self.path),
            "format": self.format,
            "input_shape": list(self.input_shape),
            "max_abs_diff": self.max_abs_diff,
            "examples_compared": self.examples,
            "note": self.note,
            **named,
        }

    def text(self) -> str:
        if self.inputs is None:
            what = "input " + _shape_text(self.input_shape)
        else:
            ins = ", ".join(f"{k} {_shape_text(v)}" for k, v in self.inputs.items())
            what = f"inputs {ins}; outputs {', '.join(self.output_diffs or {})}"
        lines = [f"exported {self.format} to {self.path} ({what})"]
        if self.max_abs_diff is not None:
            lines.append(
                f"{FORMATS[self.format].runtime} reproduces the Keras model on "
                f"{self.examples} inputs: largest difference {self.max_abs_diff:.2g}"
            )
            if self.output_diffs and len(self.output_diffs) > 1:
                lines[-1] += (
                    " ("
                    + ", ".join(
                        f"{k} {v:.2g}" for k, v in self.output_diffs.items() if v is not None
                    )
                    + ")"
                )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "x".join("N" if d is None else str(d) for d in shape)


def is_named(net: Any) -> bool:
    """Whether ``net`` takes its inputs by name (a graph's model: a dict of Keras inputs)."""
    return isinstance(getattr(net, "input", None), dict)


def input_shapes(net: Any) -> dict[str, tuple[int | None, ...]]:
    """A named model's inputs: one example's shape by input name, in the model's order."""
    return {str(k): tuple(v.shape[1:]) for k, v in net.input.items()}


def _random_inputs(net: Any, rows: int) -> Arrays:
    """``rows`` random inputs in [0, 1) for ``net`` (by name for a named model)."""
    rng = np.random.default_rng(0)
    if is_named(net):
        shapes = {k: tuple(int(d or 1) for d in s) for k, s in input_shapes(net).items()}
        return {k: rng.random((rows, *s), dtype=np.float32) for k, s in shapes.items()}
    return rng.random((rows, *tuple(net.inputs[0].shape[1:])), dtype=np.float32)


def _as_float(x: Any) -> Arrays:
    if isinstance(x, Mapping):
        return {str(k): np.asarray(v, dtype=np.float32) for k, v in x.items()}
    return np.asarray(x, dtype=np.float32)


def _rows(x: Arrays) -> int:
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def _differences(got: Arrays, expected: Any) -> dict[str, float]:
    """The largest difference of each output (by name; ``""`` for a chain's one output); an
    output the runtime does not give, or gives in another shape, is an infinite difference."""
    if not isinstance(expected, Mapping):
        return {"": _largest(np.asarray(got), np.asarray(expected))}
    given = got if isinstance(got, dict) else {}
    return {
        str(k): _largest(given[k], np.asarray(v)) if k in given else float("inf")
        for k, v in expected.items()
    }


def _largest(got: np.ndarray, expected: np.ndarray) -> float:
    if got.shape != expected.shape:
        return float("inf")
    return float(np.max(np.abs(got - expected))) if got.size else 0.0


def default_output(source: Path, fmt: str) -> Path:
    """Next to the model: ``runs/NAME/model.onnx``, ``runs/NAME/model_savedmodel/``, ..."""
    spec = FORMATS[fmt]
    stem = source.stem if source.suffix == ".keras" else "model"
    folder = source.parent if source.suffix == ".keras" else source
    return folder / (f"{stem}_savedmodel" if not spec.suffix else stem + spec.suffix)


def _require(modules: tuple[str, ...], what: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise NetdslExportError(
            f"{what} needs {', '.join(missing)}, which is not installed",
            help=_INSTALL,
            code="NDL314",
        )


def export_model(
    net: Any,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    check_inputs: Arrays | None = None,
    tolerance: float = 1e-5,
) -> ExportReport:
    """Export the Keras model ``net`` as ``fmt`` to ``out`` (never over an existing path), load it
    with its runtime and compare its outputs with Keras's on ``check_inputs`` (default: 8 random
    inputs in [0, 1); by input name for a named model). A difference over ``tolerance`` in any
    output is an error and the artefact is removed."""
    if fmt not in FORMATS:
        raise NetdslExportError(f"unknown format `{fmt}`; one of {', '.join(FORMATS)}")
    spec = FORMATS[fmt]
    out = Path(out)
    if spec.suffix and out.suffix != spec.suffix:
        raise NetdslExportError(f"{out}: a {fmt} file must end in {spec.suffix}")
    if out.exists():
        raise NetdslExportError(
            f"{out} already exists; netdsl does not overwrite it",
            help="give another path with -o, or remove it first",
        )
    table = _string_inputs(net)
    if table and fmt != "savedmodel":
        raise NetdslExportError(
            f"this model takes raw text or category values ({', '.join(table)}: string inputs, "
            f"with their preprocessing inside the model); {fmt} has no string inputs, so it "
            "cannot carry that preprocessing",
            help="export --format savedmodel, which carries it",
        )
    _require(spec.needs, f"--format {fmt}")
    if table and check_inputs is None:
        return _export_table(net, fmt, spec, out)
    x = _as_float(_random_inputs(net, 8) if check_inputs is None else check_inputs)
    out.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target, then move it into place: a failure leaves nothing half-written
    tmp = Path(tempfile.mkdtemp(prefix=".netdsl-export-", dir=out.parent))
    staged = tmp / out.name
    try:
        expected = net.predict(x, verbose=0)  # also marks a loaded model as called
        with _statistics_as_variables(net):
            note, batch = _export(net, fmt, staged)
        try:
            got = runtime_outputs(fmt, staged, x)
        except Exception as exc:  # noqa: BLE001 - a runtime that refuses the file: name the layer
            raise _explain(net, spec.keras_format, exc, runtime=True) from None
        diffs = None if got is None else _differences(got, expected)
        diff = None if diffs is None else max(diffs.values())
        if diffs is not None and diff is not None and not diff <= tolerance:
            worst = max(diffs, key=lambda k: diffs[k])
            raise NetdslExportError(
                f"the {fmt} export does not reproduce the model: {spec.runtime} differs from Keras "
                f"by up to {diff:.3g} (over {tolerance:g}) on {_rows(x)} inputs"
                + (f" in the output `{worst}`" if worst else "")
            )
        if got is None:
            note = (note + "; " if note else "") + (
                f"not checked: {spec.runtime} is not installed ({_INSTALL})"
            )
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shape = (batch, *tuple(net.inputs[0].shape[1:]))
    if not is_named(net):
        return ExportReport(out, fmt, shape, diff, _rows(x), note)
    named = {k: (batch, *s) for k, s in input_shapes(net).items()}
    outputs = {str(k): (diffs or {}).get(str(k)) for k in net.output}
    return ExportReport(out, fmt, shape, diff, _rows(x), note, named, outputs)


def _string_inputs(net: Any) -> list[str]:
    """The names of the model's string inputs (a typed table's columns), if any."""
    return [t.name for t in net.inputs if "string" in str(t.dtype)]


def _table_examples(net: Any) -> dict[str, Any]:
    """Eight raw rows for a typed table's model: numbers in [0, 1) (one missing), short
    strings (one empty: missing)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rows: dict[str, Any] = {}
    for t in net.inputs:
        if "string" in str(t.dtype):
            rows[t.name] = tf.constant([["a"], ["b c"], [""], ["x"]] * 2)
        else:
            values = rng.random((8, 1), dtype=np.float32)
            values[2, 0] = np.nan
            rows[t.name] = values
    return rows


def _export_table(net: Any, fmt: str, spec: ExportFormat, out: Path) -> ExportReport:
    """A typed table's model as a SavedModel whose ``serve`` takes the raw columns (a dict),
    checked against Keras on eight raw rows."""
    import tensorflow as tf

    x = _table_examples(net)
    names = {t.name: key for key, t in zip(_input_keys(net), net.inputs)}
    feed = {names[k]: v for k, v in x.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".netdsl-export-", dir=out.parent))
    staged = tmp / out.name
    try:
        expected = net.predict(feed, verbose=0)  # a graph's: a dict by output name
        with _statistics_as_variables(net):
            note, batch = _export(net, fmt, staged)
        loaded = tf.saved_model.load(str(staged))
        served = loaded.serve(feed)
        got = (
            {str(k): np.asarray(v) for k, v in served.items()}
            if isinstance(served, Mapping)
            else np.asarray(served)
        )
        diff = max(_differences(got, expected).values())
        if not diff <= 1e-5:
            raise NetdslExportError(
                f"the {fmt} export does not reproduce the model: it differs from Keras by up to "
                f"{diff:.3g} on {_rows(feed)} raw rows"
            )
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    note = (note + "; " if note else "") + "serve takes a dict of raw columns (strings and numbers)"
    return ExportReport(out, fmt, (batch, 1), diff, _rows(feed), note)


def _input_keys(net: Any) -> list[str]:
    """The keys the model's inputs are fed by (a dict model's keys, else the inputs' names)."""
    struct = getattr(net, "_inputs_struct", None)
    if isinstance(struct, dict):
        by_tensor = {id(v): k for k, v in struct.items()}
        return [by_tensor.get(id(t), t.name) for t in net.inputs]
    return [t.name for t in net.inputs]


@contextlib.contextmanager
def _statistics_as_variables(net: Any) -> Iterator[None]:
    """Let every adapted ``Normalization`` layer read its mean and variance from its variables
    while the model is exported. Keras keeps them as eager tensors, which the traced function
    captures as extra inputs: tf2onnx then writes a graph onnxruntime refuses ("Required inputs
    ... are missing"). Read from the variables, they are frozen into the graph as constants.
    The same values either way (axis -1: the variable broadcasts over the last axis); restored
    after."""
    import keras

    changed = []
    for layer in _all_layers(net):
        mean, variance = getattr(layer, "adapt_mean", None), getattr(layer, "adapt_variance", None)
        if not (
            isinstance(layer, keras.layers.Normalization)
            and isinstance(mean, keras.Variable)
            and isinstance(variance, keras.Variable)
            and _last_axis_only(layer.mean, mean)
        ):
            continue
        changed.append((layer, layer.mean, layer.variance))
        object.__setattr__(layer, "mean", mean)  # past Keras's tracking: nothing new is tracked
        object.__setattr__(layer, "variance", variance)
    try:
        yield
    finally:
        for layer, mean, variance in changed:
            object.__setattr__(layer, "mean", mean)
            object.__setattr__(layer, "variance", variance)


def _last_axis_only(broadcast: Any, variable: Any) -> bool:
    """Whether ``broadcast`` (shape 1 x ... x 1 x d) is ``variable`` (shape d) broadcast."""
    shape, own = tuple(getattr(broadcast, "shape", ()) or ()), tuple(variable.shape)
    return len(own) == 1 and bool(shape) and shape[-1] == own[0] and all(d == 1 for d in shape[:-1])


def _export(net: Any, fmt: str, path: Path) -> tuple[str, int | None]:
    """Write the artefact; returns a note for the user and the fixed batch size (None: any)."""
    spec = FORMATS[fmt]
    if fmt != "litert":
        _call_export(net, path, spec.keras_format, {})
        return "", None
    # LiteRT: built-in ops only, so the file runs on the plain LiteRT runtime (no Flex delegate).
    # Recurrent layers need a fixed batch size there; try any batch first, then batch 1.
    import tensorflow as tf

    builtins = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    first_try = _HeldStderr()
    try:
        with first_try:
            _call_export(net, path, spec.keras_format, builtins)
    except NetdslExportError as first:
        # the converter's `error:` lines were about the attempt that failed, which the note
        # reports; they are dropped, not printed over a successful export
        signature: list[Any] = [tf.TensorSpec((1, *net.inputs[0].shape[1:]), tf.float32)]
        if is_named(net):  # a graph's model: one spec per input, by name
            signature = [
                {
                    k: tf.TensorSpec((1, *s), tf.float32, name=k)
                    for k, s in input_shapes(net).items()
                }
            ]
        second_try = _HeldStderr()
        try:
            with second_try:
                _call_export(
                    net, path, spec.keras_format, {**builtins, "input_signature": signature}
                )
        except NetdslExportError:
            raise first from None
        second_try.replay()
        return (
            "fixed batch size 1: this model needs a static shape in LiteRT "
            f"({first.message.split(': ', 1)[-1]})"
        ), 1
    first_try.replay()
    return "", None


#: native log lines of the converters and runtimes that say nothing to the user
#: (and TensorFlow's own info and warning lines, `I0000 00:00:...` / `W0000 ...`, which the
#: converter writes by the dozen whatever TF_CPP_MIN_LOG_LEVEL says)
_EXPORT_NOISE = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|oneDNN custom operations"
    r"|absl::InitializeLog|cpu_feature_guard|^[IW]\d{4} \d\d:\d\d:\d\d"
)


class _HeldStderr:
    """Holds what native code writes to stderr (file descriptor 2) while in the ``with``;
    :meth:`replay` passes it on less the known noise. ``NETDSL_TF_LOGS=1`` holds nothing."""

    def __init__(self) -> None:
        self.text = ""
        self._saved: int | None = None
        self._file: Any = None

    def __enter__(self) -> _HeldStderr:
        import sys

        if os.environ.get("NETDSL_TF_LOGS", "") not in ("", "0"):
            return self
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc: Any) -> None:
        import sys

        if self._saved is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()

    def replay(self) -> None:
        import sys

        kept = [
            line for line in self.text.splitlines(keepends=True) if not _EXPORT_NOISE.search(line)
        ]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def _call_export(net: Any, path: Path, keras_format: str, kwargs: dict[str, Any]) -> None:
    import contextlib
    import io
    import warnings

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            net.export(str(path), format=keras_format, verbose=False, **kwargs)
    except NetdslError:
        raise
    except ImportError as exc:
        raise NetdslExportError(
            f"--format needs {exc.name or exc}, which is not installed",
            help=_INSTALL,
            code="NDL314",
        ) from None
    except Exception as exc:  # noqa: BLE001 - converter failures, turned into the layer they hit
        raise _explain(net, keras_format, exc) from None


#: operation names in converter and runtime messages ('tf.Erfinv' op, No Op registered for Erfinv,
#: fused["MatrixDeterminant:", ...])
_OP = re.compile(
    r"'tf\.([A-Za-z0-9_]+)' op|No Op registered for ([A-Za-z0-9_]+)|fused\[\"([A-Z][A-Za-z0-9]+):"
)


def _explain(
    net: Any, keras_format: str, exc: BaseException, runtime: bool = False
) -> NetdslExportError:
    """A converter's (or runtime's) failure as: which layer (by its name and class), which operation."""
    text = str(exc)
    names = {layer.name: layer for layer in _all_layers(net)}
    hit = []
    for part in dict.fromkeys(
        re.findall(r"/([A-Za-z0-9_]+)/", text)
    ):  # graph scopes: model_1/layer_1/Op
        for candidate in (part, re.sub(r"_\d+$", "", part)):
            if candidate in names and names[candidate] is not net and names[candidate] not in hit:
                hit.append(names[candidate])
                break
    ops = sorted(
        {next(g for g in m if g) for m in _OP.findall(text)}
        - {"StatefulPartitionedCall", "PartitionedCall"}
    )
    fmt = next(k for k, v in FORMATS.items() if v.keras_format == keras_format)
    what = f"layer `{hit[0].name}` ({type(hit[0]).__name__})" if hit else "this model"
    if runtime:
        what += f": {FORMATS[fmt].runtime} refuses the converted file"
    detail = (
        f": operation {', '.join(ops[:4])} " + ("is" if len(ops) == 1 else "are") + " not supported"
        if ops
        else ""
    )
    first = next(
        (ln.strip() for ln in text.splitlines() if "error" in ln.lower()), text.strip()[:200]
    )
    return NetdslExportError(
        f"{fmt} cannot take {what}{detail}",
        help=(
            "README 'Export' lists which formats take which layers; savedmodel takes every "
            f"layer. Converter said: {first[:300]}"
        ),
    )


def _all_layers(net: Any) -> list[Any]:
    out: list[Any] = []
    for layer in getattr(net, "layers", []):
        out.append(layer)
        out.extend(_all_layers(layer))
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        if inner is not None:
            out.append(inner)
    return out


def _litert_interpreter(path: Path) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=str(path))
    return Interpreter(model_path=str(path))


def _run_litert(path: Path, x: Arrays) -> Arrays:
    """The interpreter's outputs on ``x`` (its "XNNPACK delegate" notice held back)."""
    held = _HeldStderr()
    try:
        with held:
            return _invoke_named(path, x) if isinstance(x, dict) else _invoke_litert(path, x)
    finally:
        held.replay()


def _invoke_named(path: Path, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Named inputs through the file's serving signature (outputs by name); a signature of a
    fixed batch size is fed in padded chunks of that size."""
    it = _litert_interpreter(path)
    runner = it.get_signature_runner()
    details = runner.get_input_details()
    batch = {int(d["shape_signature"][0]) for d in details.values()}
    if batch == {-1}:
        return {k: np.asarray(v) for k, v in runner(**x).items()}
    size, n = max(batch), _rows(x)
    parts: list[dict[str, Any]] = []
    for start in range(0, n, size):
        chunk = {k: v[start : start + size] for k, v in x.items()}
        rows = len(next(iter(chunk.values())))
        padded = {
            k: np.concatenate([v, np.zeros((size - rows, *v.shape[1:]), v.dtype)])
            for k, v in chunk.items()
        }
        parts.append({k: np.asarray(v)[:rows] for k, v in runner(**padded).items()})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _invoke_litert(path: Path, x: np.ndarray) -> np.ndarray:
    it = _litert_interpreter(path)
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    if int(inp["shape_signature"][0]) == -1:  # any batch size: one call
        it.resize_tensor_input(inp["index"], x.shape)
        it.allocate_tensors()
        it.set_tensor(inp["index"], x)
        it.invoke()
        return np.asarray(it.get_tensor(out["index"]))
    it.allocate_tensors()
    batch = int(inp["shape"][0])
    rows = []
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        padded = np.concatenate([chunk, np.zeros((batch - len(chunk), *x.shape[1:]), x.dtype)])
        it.set_tensor(inp["index"], padded)
        it.invoke()
        rows.append(np.asarray(it.get_tensor(out["index"]))[: len(chunk)])
    return np.concatenate(rows)


def _run_savedmodel(path: Path, x: Arrays) -> Arrays:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept alive while it runs: it owns the variables
    got = loaded.serve(x)
    if isinstance(got, Mapping):
        return {str(k): np.asarray(v) for k, v in got.items()}
    return np.asarray(got)


def _run_onnx(path: Path, x: Arrays) -> Arrays | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    if not isinstance(x, dict):
        return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])
    names = [o.name for o in session.get_outputs()]
    return {k: np.asarray(v) for k, v in zip(names, session.run(names, x))}


_RUNTIMES: Mapping[str, Callable[[Path, Any], Arrays | None]] = {
    "savedmodel": _run_savedmodel,
    "onnx": _run_onnx,
    "litert": _run_litert,
}


def runtime_outputs(fmt: str, path: str | os.PathLike[str], x: Any) -> Any:
    """The artefact's outputs on ``x``, computed by its own runtime (None if not installed):
    one array, or for inputs by name (a dict) the outputs by name."""
    return _RUNTIMES[fmt](Path(path), _as_float(x))
