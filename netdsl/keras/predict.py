"""``netdsl predict``: run a trained model on image files, NumPy arrays or CSV rows.

A run folder says what its model expects: ``model.net`` holds every effective setting (whether
the network outputs logits), ``data.json`` what the dataset said of itself (its input shape,
target and class names) and ``labels.json`` the class names; the training data is not read.
Inputs are read into that shape: images are converted to the input's channels, resized to its
height and width and scaled to [0, 1] (as the built-in datasets scale pixels); arrays and CSV
rows are taken as model input values.
"""

from __future__ import annotations

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
    from ..vocab.registry import Registry

__all__ = [
    "IMAGE_SUFFIXES",
    "NetdslInputError",
    "Predictor",
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
    x: np.ndarray
    note: str = ""


def read_inputs(paths: Sequence[str], input_shape: Sequence[int]) -> list[Example]:
    """Every example in ``paths``, shaped as ``input_shape``; a bad file is an error naming it.
    Every file goes through the bounded reader (:mod:`netdsl.keras.datafiles`)."""
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
    if len(shape) == 3 and shape[2] in (1, 3, 4):
        height, width, channels = shape
    elif len(shape) == 2:
        (height, width), channels = shape, 0
    else:
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
            img.load()
            mode = {0: "L", 1: "L", 3: "RGB", 4: "RGBA"}[channels]
            converted = img.convert(mode)
            note = ""
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
                note = f"resized from {size[0]}x{size[1]}"
            x = np.asarray(converted, dtype=np.float32) / 255.0
    except (
        UnidentifiedImageError,
        OSError,
        Image.DecompressionBombError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise NetdslInputError(f"{p}: not a readable image ({type(exc).__name__}: {exc})") from None
    return Example(str(p), x.reshape(shape), note)


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


class Predictor:
    """A run folder's model with what it expects and what its outputs mean."""

    def __init__(self, net: Any, model: CheckedModel, class_names: Sequence[str]) -> None:
        self.net = net
        self.model = model
        self.class_names = list(class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape)

    def _logits(self) -> bool:
        loss = self.model.settings.loss
        return bool(getattr(loss, "kwargs", {}).get("from_logits"))

    def predict(self, examples: Sequence[Example], top: int = 3) -> list[dict[str, Any]]:
        """One result per example: top classes with probabilities, or regression values."""
        if not examples:
            return []
        x = np.stack([e.x for e in examples])
        y = np.asarray(self.net.predict(x, verbose=0), dtype=np.float64)
        target = self.model.data.target
        results = []
        for example, row in zip(examples, y):
            result: dict[str, Any] = {"input": example.name}
            if example.note:
                result["note"] = example.note
            if target.kind == "regression":
                result["values"] = [float(v) for v in row.ravel()]
            else:
                probs = self._probabilities(row.ravel(), target.kind)
                order = np.argsort(-probs, kind="stable")[: max(1, top)]
                result["top"] = [
                    {"class": int(i), "label": self._label(int(i)), "probability": float(probs[i])}
                    for i in order
                ]
            results.append(result)
        return results

    def _probabilities(self, row: np.ndarray, kind: str) -> np.ndarray:
        if kind == "binary":
            p = float(row[0])
            if self._logits():
                p = 1.0 / (1.0 + np.exp(-p))
            return np.array([1.0 - p, p])
        if self._logits():
            e = np.exp(row - row.max())
            return np.asarray(e / e.sum())
        return row

    def _label(self, i: int) -> str:
        return self.class_names[i] if i < len(self.class_names) else str(i)


def load_predictor(folder: str | os.PathLike[str], registry: Registry | None = None) -> Predictor:
    """The model of a run folder, with its checked program and class names, from what the run
    folder recorded (:mod:`netdsl.checking.recorded`): the training data is never read."""
    from ..checking.recorded import check_run, read_labels
    from .saving import load_model

    model = check_run(folder, registry)
    if model.is_graph:
        from ..errors import NetdslTrainingError

        raise NetdslTrainingError(
            f"{folder}: a graph's model (inputs {', '.join(i.name for i in model.inputs)}; "
            f"outputs {', '.join(o.name for o in model.outputs)}) cannot be used by "
            "`predict` yet",
            code="NDL300",
            help="load it with netdsl.load_model(folder) and call it on a dict of arrays "
            "by input name",
        )
    net = load_model(folder, registry, compile=False)
    _check_fits(folder, net, model)
    names = read_labels(folder) or list(model.data.class_names)
    return Predictor(net, model, names)


def _check_fits(folder: str | os.PathLike[str], net: Any, model: CheckedModel) -> None:
    """``model.keras`` takes and gives the shapes ``model.net`` says, or the folder was changed
    by hand (a file copied from another run): an error before any input is fed to it."""
    said = ((None, *model.input_shape), (None, *model.output_shape))
    has = (tuple(net.input_shape), tuple(net.output_shape))
    if has != said:
        raise NetdslTrainingError(
            f"{folder}: model.keras does not fit model.net: the saved model maps "
            f"{_shape_text(has[0][1:])} to {_shape_text(has[1][1:])}, the program "
            f"{_shape_text(said[0][1:])} to {_shape_text(said[1][1:])}",
            code="NDL313",
            help="one of the two was replaced or edited: put back the run's own files, or train again",
        )


def results_text(results: Sequence[dict[str, Any]]) -> str:
    """One line per input: ``digit.png: 7 98.21% · 3 1.10%`` or its regression values."""
    lines = []
    for r in results:
        if "top" in r:
            body = " · ".join(f"{t['label']} {100 * t['probability']:.2f}%" for t in r["top"])
        else:
            body = ", ".join(f"{v:.6g}" for v in r["values"])
        note = f"  ({r['note']})" if r.get("note") else ""
        lines.append(f"{r['input']}: {body}{note}")
    return "\n".join(lines)
