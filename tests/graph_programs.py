"""A small hand-made graph program and its data, for the tests of every stage on graphs:
three named inputs (an image and two rows), a shared layer applied to two of them, two named
outputs (3 classes and a value) with their own losses and metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import EXAMPLES

#: the examples of issue 22 with the hand-made program (its data written by :func:`write_tiny`)
EXAMPLE_NAMES = ("unet", "siamese", "multitask")

TINY = """\
dataset: npz("{data}")
loss: {{cls: sparse_categorical_crossentropy, score: mse}}
metrics: {{cls: [accuracy], score: [mae]}}
epochs: 1
seed: 1

shared t = dense 4 relu
i = img -> flatten -> dense 8 relu
ta = a -> t
tb = b -> t
output cls = [i | ta | tb] concat -> dense 3 softmax
output score = tb -> dense 1
"""

#: each input's shape in the tiny program
TINY_INPUTS = {"img": (6, 6, 1), "a": (3,), "b": (3,)}


def tiny_arrays(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``n`` examples of the tiny program's inputs (``x_<name>``) and targets (``y_<name>``)."""
    rng = np.random.default_rng(seed)
    arrays = {f"x_{k}": rng.random((n, *s), dtype=np.float32) for k, s in TINY_INPUTS.items()}
    arrays["y_cls"] = rng.integers(0, 3, n)
    arrays["y_score"] = rng.random((n, 1), dtype=np.float32)
    return arrays


def write_tiny(folder: Path, n: int = 48) -> Path:
    """The tiny program and its npz data in ``folder``; the program's path."""
    data = folder / "tiny.npz"
    np.savez(data, **tiny_arrays(n))  # type: ignore[arg-type]
    program = folder / "tiny.net"
    program.write_text(TINY.format(data=data.as_posix()))
    return program


def source(name: str, folder: Path) -> tuple[str, str]:
    """A graph program's text and file name: an example's, or the tiny one written in ``folder``."""
    if name == "tiny":
        path = write_tiny(folder)
    else:
        path = EXAMPLES / f"{name}.net"
    return path.read_text(), path.name
