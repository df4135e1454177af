"""``netdsl predict``: run a trained model on image files, NumPy arrays or CSV rows.

A run folder says what its model expects: ``model.net`` holds every effective setting (whether
the network outputs logits), ``data.json`` what the dataset said of itself (its input shape,
target and class names) and ``labels.json`` the class names; the training data is not read.
Inputs are read into that shape: images are converted to the input's channels, resized to its
height and width and scaled to [0, 1] (as the built-in datasets scale pixels); arrays and CSV
rows are taken as model input values. A graph's model takes its inputs by name and gives
each output by name (:mod:`netdsl.keras.predict_graph`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NetdslInputError, NetdslTrainingError
from .datafiles import (
    MAX_IMAGE_PIXELS,
    Npz,
    image_size,
    parse_number,
    read_lines,
    read_npy,
    regular_file,
    scale_pixels,
    split_row,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..checking.plan import CheckedModel
    from ..vocab.columns import Column
    from ..vocab.registry import Registry

__all__ = [
    "IMAGE_SUFFIXES",
    "NetdslInputError",
    "Predictor",
    "image_array",
    "image_layout",
    "load_predictor",
    "read_inputs",
    "results_text",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _shape_text(shape: Sequence[Any]) -> str:
    return "x".join(str(d) for d in shape)


@dataclass
class Example:
    """One input, named for the output (``digit.png``, ``batch.npy[3]``, ``rows.csv:2``)."""

    name: str
    x: np.ndarray | dict[str, Any]  # a typed table's row: the raw value of each column
    note: str = ""


def read_inputs(
    paths: Sequence[str], input_shape: Sequence[int], columns: Sequence[Column] = ()
) -> list[Example]:
    """Every example in ``paths``, shaped as ``input_shape``; a bad file is an error naming it.
    Every file goes through the bounded reader (:mod:`netdsl.keras.datafiles`). A model trained
    on a typed table (``columns``) takes raw CSV rows with a header naming its columns."""
    if columns:
        return _typed_inputs(paths, columns)
    out: list[Example] = []
    for path in paths:
        p = regular_file(
            Path(path), "an image, a .npy/.npz array file or a .csv file", NetdslInputError
        )
        suffix = p.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            out.append(_image(p, tuple(input_shape)))
        elif suffix == ".npy":
            out.extend(_arrays(str(p), read_npy(p, NetdslInputError), input_shape))
        elif suffix == ".npz":
            out.extend(_npz(p, input_shape))
        elif suffix == ".csv":
            out.extend(_csv(p, input_shape))
        else:
            raise NetdslInputError(
                f"{path}: cannot tell what `{suffix or p.name}` holds",
                help=f"give images ({', '.join(IMAGE_SUFFIXES)}), .npy/.npz arrays or .csv rows",
            )
    return out


def _npz(p: Path, shape: Sequence[int]) -> Iterator[Example]:
    with Npz(p, NetdslInputError) as archive:
        for member in archive.members.values():
            if not member.numeric:
                raise NetdslInputError(
                    f"{p}:{member.name}: holds {member.dtype} values, not numbers"
                )
        arrays = archive.arrays(list(archive.members))
    for key, array in arrays.items():
        yield from _arrays(f"{p}:{key}", array, shape)


def _image(p: Path, shape: tuple[int, ...]) -> Example:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise NetdslInputError(
            "reading images needs Pillow, which is not installed",
            help="pip install 'netdsl[predict]'",
            code="NDL121",
        ) from None
    if image_layout(shape) is None:
        raise NetdslInputError(
            f"{p}: the model takes {_shape_text(shape)}, not an image",
            help="give a .npy, .npz or .csv file of that shape",
        )
    image_size(p, NetdslInputError)  # header checked, pixels counted, before any decoding
    try:
        with Image.open(p) as img:
            size = img.size
            if size[0] * size[1] > MAX_IMAGE_PIXELS:  # a format the header reader leaves to Pillow
                raise NetdslInputError(
                    f"{p}: the image declares {size[0]:,}x{size[1]:,} pixels, over "
                    f"the limit of {MAX_IMAGE_PIXELS:,}; refused before decoding"
                )
            x, note = image_array(img, shape)
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise NetdslInputError(f"{p}: not a readable image ({type(exc).__name__}: {exc})") from None
    return Example(str(p), x, note)


def image_layout(shape: Sequence[int]) -> tuple[int, int, int] | None:
    """``(height, width, channels)`` of an input that takes pictures (channels 0: no channel
    axis), or None: an image is read into a 2-axis input or a 3-axis one of 1, 3 or 4 channels."""
    if len(shape) == 3 and shape[2] in (1, 3, 4):
        return int(shape[0]), int(shape[1]), int(shape[2])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), 0
    return None


def image_array(img: Any, shape: Sequence[int]) -> tuple[np.ndarray, str]:
    """An opened Pillow image as the input ``shape`` takes it (see :func:`image_layout`):
    decoded, converted to its channels, resized to its height and width, scaled to [0, 1];
    with a note when it was resized. The caller has checked the pixel count."""
    from PIL import Image

    layout = image_layout(shape)
    if layout is None:
        raise ValueError(f"an input of shape {_shape_text(shape)} does not take images")
    height, width, channels = layout
    size = img.size
    img.load()
    converted = img.convert({0: "L", 1: "L", 3: "RGB", 4: "RGBA"}[channels])
    note = ""
    if converted.size != (width, height):
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
        note = f"resized from {size[0]}x{size[1]}"
    x = np.asarray(converted, dtype=np.float32) / 255.0
    return x.reshape(tuple(shape)), note


def _arrays(name: str, array: np.ndarray, shape: Sequence[int]) -> Iterator[Example]:
    """One input or a batch of them; uint8 values given to a model of pictures (2 or more axes)
    are pixels, scaled to [0, 1] as the datasets scale them for training."""
    a = np.asarray(array)
    if not np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_:
        raise NetdslInputError(f"{name}: holds {a.dtype} values, not numbers")
    pixels = a.dtype == np.uint8 and len(shape) >= 2
    note = "uint8 pixels scaled to [0, 1]" if pixels else ""
    values = scale_pixels(a) if pixels else a.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise NetdslInputError(f"{name}: holds NaN or infinite values")
    size = int(np.prod(shape))
    if a.size == size:  # one input, in any layout holding its values (28x28 for 28x28x1)
        yield Example(name, values.reshape(shape), note)
        return
    if a.ndim >= 2 and int(np.prod(a.shape[1:])) == size:
        for i, row in enumerate(values):
            yield Example(f"{name}[{i}]", row.reshape(shape), note)
        return
    raise NetdslInputError(
        f"{name}: an array of shape {_shape_text(a.shape)} is neither one input of shape "
        f"{_shape_text(shape)} ({size:,} values) nor a batch of them"
    )


def _csv(p: Path, shape: Sequence[int]) -> Iterator[Example]:
    """Rows of numbers, read as training reads a CSV: lines split on LF, cells by commas, one
    number grammar (:func:`~netdsl.keras.datafiles.parse_number`); a first row of names is a header."""
    size = int(np.prod(shape))
    found = False
    try:
        for line, text in read_lines(p, error=NetdslInputError):
            row = [cell for cell, _ in split_row(text, ",")]
            if all(not c for c in row):
                continue
            values = [parse_number(c) for c in row]
            if any(v is None for v in values):
                if line == 1:
                    continue  # a header row
                col = next(i for i, v in enumerate(values) if v is None)
                raise NetdslInputError(
                    f"{p}:{line}: `{row[col][:40]}` (column {col + 1}) is not a number"
                )
            if len(values) != size:
                raise NetdslInputError(
                    f"{p}:{line}: {len(values)} columns, but the model takes {size:,} values "
                    f"({_shape_text(shape)}) per row"
                )
            x = np.asarray(values, dtype=np.float32)
            if not np.all(np.isfinite(x)):
                raise NetdslInputError(f"{p}:{line}: a value is NaN or infinite")
            found = True
            yield Example(f"{p}:{line}", x.reshape(shape))
    except (OSError, UnicodeDecodeError) as exc:
        raise NetdslInputError(f"{p}: not a readable CSV file ({exc})") from None
    if not found:
        raise NetdslInputError(f"{p}: no rows of numbers")


def _typed_inputs(paths: Sequence[str], columns: Sequence[Column]) -> list[Example]:
    out: list[Example] = []
    for path in paths:
        p = regular_file(Path(path), "a .csv file of raw rows", NetdslInputError)
        if p.suffix.lower() != ".csv":
            raise NetdslInputError(
                f"{p}: this model was trained on a table; give a .csv file whose header names "
                "its columns: " + ", ".join(c.name for c in columns)
            )
        out.extend(_typed_csv(p, columns))
    return out


def _typed_csv(p: Path, columns: Sequence[Column]) -> Iterator[Example]:
    """Raw rows of a table, as training read them: a header naming the model's columns (others,
    the label among them, are left out), missing cells as missing, numbers by the one number
    grammar; anything else is passed as written (a value unseen in training is out of the
    vocabulary, not an error)."""
    from ..vocab.columns import is_missing
    from ..vocab.registry import suggest

    where: dict[str, int] = {}
    try:
        for line, text in read_lines(p, error=NetdslInputError):
            cells = split_row(text, ",")
            if line == 1:
                header = [c for c, _ in cells]
                for column in columns:
                    if column.name not in header:
                        close = suggest(column.name, header)
                        raise NetdslInputError(
                            f"{p}:1: the header has no column `{column.name}`, which the model "
                            "takes" + (f" (did you mean `{close}`?)" if close else "")
                        )
                    where[column.name] = header.index(column.name)
                continue
            if not text.strip():
                continue
            if len(cells) != len(where) and len(cells) < max(where.values()) + 1:
                raise NetdslInputError(f"{p}:{line}: {len(cells)} cells, fewer than the header's")
            x: dict[str, Any] = {}
            for column in columns:
                value, col = cells[where[column.name]]
                if column.type != "number":
                    x[column.name] = "" if is_missing(value) else value
                    continue
                number = math.nan if is_missing(value) else parse_number(value)
                if number is None:
                    raise NetdslInputError(
                        f"{p}:{line}:{col + 1}: `{value[:40]}` in column `{column.name}` is not "
                        "a number"
                    )
                x[column.name] = number
            yield Example(f"{p}:{line}", x)
    except (OSError, UnicodeDecodeError) as exc:
        raise NetdslInputError(f"{p}: not a readable CSV file ({exc})") from None


def _batch(examples: Sequence[Example]) -> Any:
    """The examples as one model input: stacked arrays, or for a table a dict of columns."""
    first = examples[0].x
    if not isinstance(first, dict):
        return np.stack([np.asarray(e.x) for e in examples])
    import tensorflow as tf

    rows = [e.x for e in examples if isinstance(e.x, dict)]
    out = {}
    for name, value in first.items():
        column = [row[name] for row in rows]
        if isinstance(value, str):
            out[name] = tf.constant([[v] for v in column], tf.string)
        else:
            out[name] = np.asarray(column, np.float32).reshape(-1, 1)
    return out


class Predictor:
    """A run folder's model with what it expects and what its outputs mean."""

    def __init__(self, net: Any, model: CheckedModel, class_names: Sequence[str]) -> None:
        self.net = net
        self.model = model
        self.class_names = list(class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape)

    @property
    def columns(self) -> tuple[Column, ...]:
        """A typed table's columns, each a raw input of the model; () for one array input."""
        return tuple(self.model.data.columns)

    def _logits(self) -> bool:
        loss = self.model.settings.loss
        return bool(getattr(loss, "kwargs", {}).get("from_logits"))

    def predict(self, examples: Sequence[Example], top: int = 3) -> list[dict[str, Any]]:
        """One result per example: top classes with probabilities, or regression values."""
        if not examples:
            return []
        if self.model.is_graph:
            return self._predict_graph(examples, top)
        y = np.asarray(self.net.predict(_batch(examples), verbose=0), dtype=np.float64)
        results = []
        for example, row in zip(examples, y):
            result: dict[str, Any] = {"input": example.name}
            if example.note:
                result["note"] = example.note
            result.update(self.explain(row, top))
            results.append(result)
        return results

    def _predict_graph(self, examples: Sequence[Any], top: int) -> list[dict[str, Any]]:
        """One result per example with each output's by name (``outputs``), in the
        program's order of outputs."""
        if self.columns:  # a typed table: raw rows, one input per column
            x = _batch(examples)
        else:
            x = {i.name: np.stack([e.xs[i.name] for e in examples]) for i in self.model.inputs}
        y = self.net.predict(x, verbose=0)
        results = []
        for k, example in enumerate(examples):
            result: dict[str, Any] = {"input": example.name}
            if example.note:
                result["note"] = example.note
            result["outputs"] = {}
            for o in self.model.outputs:
                row = np.asarray(y[o.name][k], dtype=np.float64)
                logits = bool(getattr(o.loss, "kwargs", {}).get("from_logits"))
                names = list(o.class_names) or (
                    self.class_names if len(self.model.outputs) == 1 else []
                )
                result["outputs"][o.name] = self._read_out(row, o.target.kind, top, logits, names)
            results.append(result)
        return results

    def explain(self, row: np.ndarray, top: int = 3) -> dict[str, Any]:
        """One output row of a one-output model as ``{"top": [{"class", "label",
        "probability"}]}`` (the ``top`` most likely classes) or ``{"values": [...]}`` for a
        regression (``netdsl serve`` uses it too)."""
        kind = self.model.data.target.kind
        return self._read_out(
            np.asarray(row, dtype=np.float64), kind, top, self._logits(), self.class_names
        )

    def _read_out(
        self, row: np.ndarray, kind: str, top: int, logits: bool, names: Sequence[str]
    ) -> dict[str, Any]:
        """One output's reading: its top classes with probabilities, or its values."""
        if kind == "regression":
            return {"values": [float(v) for v in row.ravel()]}
        probs = self._probabilities(row.ravel(), kind, logits)
        order = np.argsort(-probs, kind="stable")[: max(1, top)]
        return {
            "top": [
                {
                    "class": int(i),
                    "label": names[int(i)] if int(i) < len(names) else str(int(i)),
                    "probability": float(probs[i]),
                }
                for i in order
            ]
        }

    def _probabilities(self, row: np.ndarray, kind: str, logits: bool) -> np.ndarray:
        if kind == "binary":
            p = float(row[0])
            if logits:
                p = 1.0 / (1.0 + np.exp(-p))
            return np.array([1.0 - p, p])
        if logits:
            e = np.exp(row - row.max())
            return np.asarray(e / e.sum())
        return row


def load_predictor(folder: str | os.PathLike[str], registry: Registry | None = None) -> Predictor:
    """The model of a run folder, with its checked program and class names, from what the run
    folder recorded (:mod:`netdsl.checking.recorded`): the training data is never read."""
    from ..checking.recorded import check_run, read_labels
    from .saving import load_model

    model = check_run(folder, registry)
    net = load_model(folder, registry, compile=False)
    _check_fits(folder, net, model)
    names = read_labels(folder) or list(model.data.class_names)
    return Predictor(net, model, names)


def _check_fits(folder: str | os.PathLike[str], net: Any, model: CheckedModel) -> None:
    """``model.keras`` takes and gives the shapes ``model.net`` says, or the folder was changed
    by hand (a file copied from another run): an error before any input is fed to it."""
    if model.is_graph:
        _check_graph_fits(folder, net, model)
        return
    said = ((None, *model.input_shape), (None, *model.output_shape))
    if model.data.columns:  # raw inputs, one per column: the encoded width is inside the model
        said = ((None, 1),) * len(model.data.columns) + said[1:]
        has = (*_shapes(net.input_shape), tuple(net.output_shape))
    else:
        has = (tuple(net.input_shape), tuple(net.output_shape))
    if has != said:
        raise NetdslTrainingError(
            f"{folder}: model.keras does not fit model.net: the saved model maps "
            f"{_shape_text(has[0][1:])} to {_shape_text(has[1][1:])}, the program "
            f"{_shape_text(said[0][1:])} to {_shape_text(said[1][1:])}",
            code="NDL313",
            help="one of the two was replaced or edited: put back the run's own files, or train again",
        )


def _check_graph_fits(folder: str | os.PathLike[str], net: Any, model: CheckedModel) -> None:
    """A graph's ``model.keras`` takes the inputs and gives the outputs, by name and shape,
    that ``model.net`` says."""

    def named(tensors: Any) -> dict[str, tuple[Any, ...]]:
        if not isinstance(tensors, dict):
            return {"(unnamed)": tuple(getattr(tensors, "shape", ())[1:])}
        return {str(k): tuple(v.shape[1:]) for k, v in tensors.items()}

    columns = model.data.columns  # a typed table: one raw input per column, whatever it routes
    said = (
        {c.name: (1,) for c in columns}
        if columns
        else {i.name: tuple(i.shape) for i in model.inputs},
        {o.name: tuple(o.shape) for o in model.outputs},
    )
    has = (named(net.input), named(net.output))
    if has != said:

        def text(d: dict[str, tuple[Any, ...]]) -> str:
            return ", ".join(f"{k} {_shape_text(v)}" for k, v in sorted(d.items()))

        raise NetdslTrainingError(
            f"{folder}: model.keras does not fit model.net: the saved model maps "
            f"{text(has[0])} to {text(has[1])}, the program {text(said[0])} to {text(said[1])}",
            code="NDL313",
            help="one of the two was replaced or edited: put back the run's own files, or train again",
        )


def _reading_text(r: dict[str, Any]) -> str:
    if "top" in r:
        return " · ".join(f"{t['label']} {100 * t['probability']:.2f}%" for t in r["top"])
    return ", ".join(f"{v:.6g}" for v in r["values"])


def _shapes(shapes: Any) -> list[tuple[Any, ...]]:
    """The input shapes of a model of several inputs (a dict or a list of them)."""
    values = shapes.values() if isinstance(shapes, dict) else shapes
    return [tuple(s) for s in values]


def results_text(results: Sequence[dict[str, Any]]) -> str:
    """One line per input: ``digit.png: 7 98.21% · 3 1.10%`` or its regression values; a
    graph's outputs each on a line of its own under the input, by name."""
    lines = []
    for r in results:
        note = f"  ({r['note']})" if r.get("note") else ""
        if "outputs" in r:
            lines.append(f"{r['input']}:{note}")
            lines.extend(f"  {k}: {_reading_text(v)}" for k, v in r["outputs"].items())
            continue
        lines.append(f"{r['input']}: {_reading_text(r)}{note}")
    return "\n".join(lines)
