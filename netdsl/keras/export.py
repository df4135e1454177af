"""``netdsl export``: a trained model as a SavedModel, an ONNX file or a LiteRT (.tflite) file.

Every format goes through Keras's own ``Model.export``. After writing, the artefact is loaded by
its own runtime (``tf.saved_model.load``, ``onnxruntime``, the LiteRT interpreter) and run on
inputs; its outputs are compared with the Keras model's, so an export that does not reproduce
the model is never reported as done. A format that cannot take a layer fails naming the layer.
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
    "runtime_outputs",
]


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "input_shape": list(self.input_shape),
            "max_abs_diff": self.max_abs_diff,
            "examples_compared": self.examples,
            "note": self.note,
        }

    def text(self) -> str:
        shape = "x".join("N" if d is None else str(d) for d in self.input_shape)
        lines = [f"exported {self.format} to {self.path} (input {shape})"]
        if self.max_abs_diff is not None:
            lines.append(
                f"{FORMATS[self.format].runtime} reproduces the Keras model on "
                f"{self.examples} inputs: largest difference {self.max_abs_diff:.2g}"
            )
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)


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
    check_inputs: np.ndarray | None = None,
    tolerance: float = 1e-5,
) -> ExportReport:
    """Export the Keras model ``net`` as ``fmt`` to ``out`` (never over an existing path), load it
    with its runtime and compare its outputs with Keras's on ``check_inputs`` (default: 8 random
    inputs in [0, 1)). A difference over ``tolerance`` is an error and the artefact is removed."""
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
    _require(spec.needs, f"--format {fmt}")
    if len(net.inputs) != 1 or isinstance(net.output, dict):  # a graph's named inputs/outputs
        raise NetdslExportError(
            f"{fmt} export takes a model of one input and one output yet; this one has "
            f"{len(net.inputs)} input(s) and {len(net.outputs)} output(s) by name",
            help="save it as .keras (the run folder's model.keras) until export carries "
            "named inputs and outputs",
        )
    if check_inputs is None:
        shape = tuple(net.inputs[0].shape[1:])
        check_inputs = np.random.default_rng(0).random((8, *shape), dtype=np.float32)
    x = np.asarray(check_inputs, dtype=np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target, then move it into place: a failure leaves nothing half-written
    tmp = Path(tempfile.mkdtemp(prefix=".netdsl-export-", dir=out.parent))
    staged = tmp / out.name
    try:
        expected = np.asarray(net.predict(x, verbose=0))  # also marks a loaded model as called
        with _statistics_as_variables(net):
            note, batch = _export(net, fmt, staged)
        try:
            got = runtime_outputs(fmt, staged, x)
        except Exception as exc:  # noqa: BLE001 - a runtime that refuses the file: name the layer
            raise _explain(net, spec.keras_format, exc, runtime=True) from None
        diff = None if got is None else float(np.max(np.abs(got - expected)))
        if diff is not None and not diff <= tolerance:
            raise NetdslExportError(
                f"the {fmt} export does not reproduce the model: {spec.runtime} differs from Keras "
                f"by up to {diff:.3g} (over {tolerance:g}) on {len(x)} inputs"
            )
        if got is None:
            note = (note + "; " if note else "") + (
                f"not checked: {spec.runtime} is not installed ({_INSTALL})"
            )
        os.replace(staged, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    shape = (batch, *tuple(net.inputs[0].shape[1:]))
    return ExportReport(out, fmt, shape, diff, len(x), note)


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
        signature = [tf.TensorSpec((1, *net.inputs[0].shape[1:]), tf.float32)]
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


def _run_litert(path: Path, x: np.ndarray) -> np.ndarray:
    """The interpreter's outputs on ``x`` (its "XNNPACK delegate" notice held back)."""
    held = _HeldStderr()
    try:
        with held:
            return _invoke_litert(path, x)
    finally:
        held.replay()


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


def _run_savedmodel(path: Path, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept alive while it runs: it owns the variables
    return np.asarray(loaded.serve(x))


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


_RUNTIMES: Mapping[str, Callable[[Path, np.ndarray], np.ndarray | None]] = {
    "savedmodel": _run_savedmodel,
    "onnx": _run_onnx,
    "litert": _run_litert,
}


def runtime_outputs(fmt: str, path: str | os.PathLike[str], x: np.ndarray) -> np.ndarray | None:
    """The artefact's outputs on ``x``, computed by its own runtime (None if not installed)."""
    return _RUNTIMES[fmt](Path(path), np.asarray(x, dtype=np.float32))
