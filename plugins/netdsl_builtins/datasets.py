"""Built-in datasets, registered here: every dataset of ``keras.datasets`` by its name
(:mod:`netdsl_builtins.keras_datasets`), the user's own tables and arrays (``csv``, ``npz``:
:mod:`netdsl_builtins.tabular`) and image folders (``images``: :mod:`netdsl_builtins.images`),
and ``synthetic``.

``describe`` answers from constants, arguments and file headers (no data is read by
``netdsl check``); loading is NumPy only, and TensorFlow is imported solely to stream CSV and
image folders through ``tf.data`` or to download a Keras dataset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdsl.vocab import types as T
from netdsl.vocab.components import Code, DataInfo, DataRequest, Dataset, Param, Target
from netdsl.vocab.hookspecs import Register, hookimpl

from .images import IMAGES
from .keras_datasets import KERAS_DATASETS, MNIST
from .mnist_tasks import MNIST as MNIST_TASKS
from .named_npz import NPZ
from .tabular import CSV
from .text_files import TEXT_FILES

if TYPE_CHECKING:  # pragma: no cover - NumPy loads with the data, not with `netdsl check`
    import numpy as np

__all__ = ["MNIST", "MNIST_SHAPE", "SYNTHETIC", "register_datasets"]

MNIST_SHAPE = (28, 28, 1)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register the Keras datasets, ``csv``, ``npz``, ``images``, ``text_files``, ``synthetic``."""
    keras_datasets = (MNIST_TASKS if d is MNIST else d for d in KERAS_DATASETS)
    for dataset in (*keras_datasets, CSV, NPZ, IMAGES, TEXT_FILES, SYNTHETIC):
        register(dataset)


# --- synthetic ----------------------------------------------------------------------------------


def describe_synthetic(request: DataRequest) -> DataInfo:
    """Shaped by the program's ``input:``; the target by ``task`` (and ``classes``/``outputs``)."""
    from netdsl.errors import NetdslArgumentError

    if request.input_shape is None:
        raise NetdslArgumentError(
            "`synthetic` makes examples of the program's input shape, and the program gives none",
            label="no `input:`",
            code="NDL005",
            help="add a line such as `input: 28x28x1`",
        )
    a = request.args
    target = {
        "classes": Target("classes", a["classes"]),
        "binary": Target("binary"),
        "regression": Target("regression", shape=(a["outputs"],)),
    }[a["task"]]
    return DataInfo(
        tuple(request.input_shape), target, train_size=a["train_size"], test_size=a["test_size"]
    )


def load_synthetic(
    request: DataRequest,
    info: DataInfo,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uniform random examples in [0, 1) and random targets, the same for the same ``seed``."""
    import numpy as np

    a = request.args
    rng = np.random.default_rng(a["seed"])

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.random((n, *info.input_shape), dtype=np.float32)
        if info.target.kind == "classes":
            y = rng.integers(0, info.target.num_classes, n)
        elif info.target.kind == "binary":
            y = rng.integers(0, 2, (n, 1)).astype(np.float32)
        else:
            y = rng.standard_normal((n, *info.target.shape)).astype(np.float32)
        return x, y

    x_train, y_train = split(a["train_size"])
    x_test, y_test = split(a["test_size"])
    return x_train, y_train, x_test, y_test


_SYNTHETIC_Y = {
    "classes": "rng.integers(0, %(classes)d, n)",
    "binary": 'rng.integers(0, 2, (n, 1)).astype("float32")',
    "regression": 'rng.standard_normal((n, %(outputs)d)).astype("float32")',
}

_SYNTHETIC_CODE = '''
def load_data(path=None):
    """Random examples in [0, 1) and random targets, as netdsl's `synthetic` (seed %(seed)d)."""
    rng = np.random.default_rng(%(seed)d)

    def split(n):
        x = rng.random((n, %(shape)s), dtype=np.float32)
        return x, %(y)s

    x_train, y_train = split(%(train_size)d)
    x_test, y_test = split(%(test_size)d)
    return x_train, y_train, x_test, y_test
'''


def emit_synthetic(request: DataRequest, info: DataInfo) -> Code:
    """``load_data(path)`` for ``netdsl emit``: the same random numbers as :func:`load_synthetic`."""
    a = dict(request.args)
    a["outputs"] = info.target.shape[0] if info.target.shape else 1
    y = _SYNTHETIC_Y[info.target.kind] % a
    shape = ", ".join(str(d) for d in info.input_shape)
    return Code(_SYNTHETIC_CODE % {**a, "y": y, "shape": shape})


SYNTHETIC = Dataset(
    name="synthetic",
    describe=describe_synthetic,
    load=load_synthetic,
    emit=emit_synthetic,
    description="random examples of the program's `input:` shape with random targets: for trying "
    "an architecture, timing it, or testing a plugin without any data",
    params=(
        Param(
            "task",
            T.Choice(("classes", "binary", "regression")),
            "classes",
            positional=True,
            help="what the targets are",
        ),
        Param("classes", T.Int(min=2, max=1_000_000), 10, help="number of classes (task=classes)"),
        Param(
            "outputs", T.Int(min=1, max=1_000_000), 1, help="regression outputs (task=regression)"
        ),
        Param("train_size", T.Int(min=1, max=10_000_000), 1024, help="training examples"),
        Param("test_size", T.Int(min=1, max=10_000_000), 256, help="test examples"),
        Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="the random generator's seed"),
    ),
)
