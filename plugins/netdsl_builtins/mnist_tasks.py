"""``mnist(task=...)``: MNIST's digits made into the data of graph programs, from the very
files ``mnist`` reads (``$NETDSL_MNIST``, ``--data``, Keras's cache).

* ``digits`` (the default): ``mnist`` as it always was: one image in, its digit out.
* ``denoise``: noisy digits in (``x``), clean digits out (``y``, regression on 28x28x1); the
  noise as Keras's "Convolutional autoencoder for image denoising" example adds it:
  ``clip(x + noise * N(0, 1), 0, 1)``, seeded.
* ``pairs``: two digits in (``a``, ``b``) and whether they are the same digit (``same``,
  binary); half the pairs are the same digit, drawn with the seed (test pairs from the test
  images).
* ``parity``: one digit in (``x``), two targets: the digit (``digit``, 10 classes) and
  whether it is odd (``odd``, binary).

``train_size`` / ``test_size`` keep the first examples (or make that many pairs).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from netdsl.vocab import types as T
from netdsl.vocab.components import (
    Code,
    DataInfo,
    DataRequest,
    InputInfo,
    Param,
    Target,
    TargetInfo,
)

from .keras_datasets import MNIST as _PLAIN

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["MNIST", "TASKS"]

TASKS = ("digits", "denoise", "pairs", "parity")
_IMAGE = (28, 28, 1)
_SIZES = {"train": 60_000, "test": 10_000}


def _sizes(request: DataRequest) -> tuple[int, int]:
    a = request.args
    task = a.get("task", "digits")
    train, test = a.get("train_size"), a.get("test_size")
    if task == "pairs":  # pairs are drawn: any number of them
        return train or _SIZES["train"], test or _SIZES["test"]
    return min(train or _SIZES["train"], _SIZES["train"]), min(
        test or _SIZES["test"], _SIZES["test"]
    )


def describe(request: DataRequest) -> DataInfo:
    """The task's inputs and targets, from constants (nothing is read)."""
    task = request.args.get("task", "digits")
    if (
        task == "digits"
        and not request.args.get("train_size")
        and not request.args.get("test_size")
    ):
        return _PLAIN.describe(request)
    train, test = _sizes(request)
    if task == "digits":
        info = _PLAIN.describe(request)
        return dataclasses.replace(info, train_size=train, test_size=test)
    if task == "denoise":
        return DataInfo(
            _IMAGE, Target("regression", shape=_IMAGE), train_size=train, test_size=test
        )
    image = Target("binary")
    inputs: tuple[InputInfo, ...]
    if task == "pairs":
        inputs = (InputInfo("a", _IMAGE), InputInfo("b", _IMAGE))
        targets: tuple[TargetInfo, ...] = (TargetInfo("same", image, ("different", "same")),)
    else:
        inputs = (InputInfo("x", _IMAGE),)
        digits = tuple(str(d) for d in range(10))
        targets = (
            TargetInfo("digit", Target("classes", 10), digits),
            TargetInfo("odd", image, ("even", "odd")),
        )
    return DataInfo(
        _IMAGE,
        targets[0].target,
        train_size=train,
        test_size=test,
        inputs=inputs,
        targets=targets,
    )


def load(request: DataRequest, info: DataInfo) -> tuple[Any, ...]:
    """The plain MNIST arrays, made into the task's (:func:`task_arrays`)."""
    x_train, y_train, x_test, y_test = _PLAIN.load(request, info)  # type: ignore[misc]
    a = request.args
    train, test = _sizes(request)
    return task_arrays(
        a.get("task", "digits"),
        (x_train, y_train, x_test, y_test),
        train,
        test,
        float(a.get("noise", 0.4)),
        int(a.get("seed", 0)),
    )


def task_arrays(
    task: str,
    arrays: tuple[np.ndarray, ...],
    train: int,
    test: int,
    noise: float,
    seed: int,
) -> tuple[object, ...]:
    """MNIST's ``(x_train, y_train, x_test, y_test)`` (images in [0, 1], digits) as the task's:
    arrays, or dicts of them by input and target name. ``netdsl emit`` writes this very
    function into the programs it writes, so both make the same examples."""
    import numpy as np

    x_train, y_train, x_test, y_test = arrays
    rng = np.random.default_rng(seed)
    if task == "pairs":
        return (
            *_pairs(rng, x_train, y_train, train),
            *_pairs(rng, x_test, y_test, test),
        )
    x_train, y_train = x_train[:train], y_train[:train]
    x_test, y_test = x_test[:test], y_test[:test]
    if task == "digits":
        return x_train, y_train, x_test, y_test
    if task == "denoise":
        return _noisy(rng, x_train, noise), x_train, _noisy(rng, x_test, noise), x_test
    return (
        {"x": x_train},
        {"digit": y_train, "odd": (y_train % 2).astype(np.float32)},
        {"x": x_test},
        {"digit": y_test, "odd": (y_test % 2).astype(np.float32)},
    )


def _noisy(rng: np.random.Generator, x: np.ndarray, noise: float) -> np.ndarray:
    """``clip(x + noise * N(0, 1), 0, 1)``, as Keras's denoising example adds noise."""
    import numpy as np

    out = x + noise * rng.standard_normal(x.shape, dtype=np.float32)
    clipped: np.ndarray = np.clip(out, 0.0, 1.0).astype(np.float32)
    return clipped


def _pairs(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, n: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``n`` pairs: the first of each drawn at random, the second drawn among the images of
    the same digit for every other pair, among those of the other digits for the rest."""
    import numpy as np

    first = rng.integers(0, len(x), n)
    same = np.arange(n) % 2 == 0
    digit = y[first]
    second = np.empty(n, dtype=np.int64)
    for d in np.unique(digit):
        for wanted, pool in ((True, y == d), (False, y != d)):
            rows = np.flatnonzero((digit == d) & (same == wanted))
            candidates = np.flatnonzero(pool)
            if len(rows) and not len(candidates):  # one digit only: no different pair
                raise ValueError("pairs need images of at least two digits")
            if len(rows):
                second[rows] = rng.choice(candidates, len(rows))
    return {"a": x[first], "b": x[second]}, {"same": same.astype(np.float32)}


def _source(function: Any) -> str:
    """A function's source as the emitted program holds it (NumPy is imported at its top)."""
    import inspect

    text = inspect.getsource(function)
    return text.replace("    import numpy as np\n\n", "")


_TASK_CODE = '''
def load_data(path=None):
    """MNIST made into the task %(quoted)s (as netdsl's `mnist(task=%(task)s)`)."""
    arrays = load_mnist_digits(path)
    return task_arrays(%(quoted)s, arrays, %(train)d, %(test)d, %(noise)r, %(seed)d)
'''


def emit(request: DataRequest, info: DataInfo) -> Code:
    """``netdsl emit``'s loader: plain MNIST's, and for a task the same :func:`task_arrays`."""
    assert _PLAIN.emit is not None
    plain: Code = _PLAIN.emit(request, info)
    a = request.args
    if a.get("task", "digits") == "digits" and not a.get("train_size") and not a.get("test_size"):
        return plain
    train, test = _sizes(request)
    values = {
        "task": a.get("task", "digits"),
        "train": train,
        "test": test,
        "noise": float(a.get("noise", 0.4)),
        "seed": int(a.get("seed", 0)),
        "quoted": json.dumps(a.get("task", "digits")),
    }
    helpers = tuple(_source(f) for f in (task_arrays, _noisy, _pairs))
    return dataclasses.replace(
        plain,
        source=plain.source.replace("def load_data(", "def load_mnist_digits(")
        + "\n"
        + _TASK_CODE % values,
        definitions=(*plain.definitions, *helpers),
    )


#: ``mnist``, with the tasks of graph programs
MNIST = dataclasses.replace(
    _PLAIN,
    describe=describe,
    load=load,
    emit=emit,
    description=_PLAIN.description
    + " `task` makes it the data of a graph: denoise (noisy x in, clean y out), pairs "
    "(a, b in; same out), parity (x in; digit and odd out).",
    params=(
        *_PLAIN.params,
        Param("task", T.Choice(TASKS), "digits", help="what the examples and targets are"),
        Param("noise", T.Float(min=0.0, max=10.0), 0.4, help="task=denoise: the noise factor"),
        Param(
            "train_size",
            T.Int(min=1, max=10_000_000),
            None,
            help="training examples (pairs: how many to draw); default all 60,000",
        ),
        Param(
            "test_size", T.Int(min=1, max=10_000_000), None, help="test examples; default 10,000"
        ),
        Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="seed of the noise and the pairs"),
    ),
)
