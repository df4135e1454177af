"""Built-in datasets: ``mnist`` (official IDX files or Keras's ``mnist.npz``; see
:mod:`netdsl_builtins.mnist_files`).

``describe`` answers from constants (no file is touched by ``netdsl check``); loading is NumPy
only, and TensorFlow is imported solely if MNIST must be downloaded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from netdsl import types as T
from netdsl.components import Code, DataInfo, DataRequest, Dataset, Param, Target
from netdsl.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # pragma: no cover - NumPy loads with the data, not with `netdsl check`
    import numpy as np

__all__ = ["register_datasets", "MNIST", "SYNTHETIC", "MNIST_SHAPE", "load_mnist_for_training"]

MNIST_SHAPE = (28, 28, 1)
MNIST_CLASSES = 10
MNIST_ENV = "NETDSL_MNIST"


def describe_mnist(request: DataRequest) -> DataInfo:
    """MNIST's shape and classes, known without reading it."""
    return DataInfo(MNIST_SHAPE, Target("classes", MNIST_CLASSES), train_size=60_000,
                    class_names=tuple(str(d) for d in range(MNIST_CLASSES)))


def load_mnist_for_training(
    request: DataRequest, info: DataInfo,
) -> "tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]":
    """MNIST as ``(x_train, y_train, x_test, y_test)``: x float32 in [0, 1] ``(N, 28, 28, 1)``, y uint8."""
    from .mnist_files import load_mnist, scale_images

    m = load_mnist(request.path, env=request.env or MNIST_ENV)
    return (scale_images(m.x_train, MNIST_SHAPE), m.y_train,
            scale_images(m.x_test, MNIST_SHAPE), m.y_test)


_MNIST_CODE = '''
def read_idx(folder, name):
    """One IDX file, NAME.gz or NAME, as a uint8 array."""
    path = os.path.join(folder, name)
    if os.path.isfile(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    dims = np.frombuffer(data, ">u4", count=data[3], offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(dims)


def has_idx(folder):
    """Whether FOLDER holds the MNIST IDX files (else it holds mnist.npz)."""
    name = os.path.join(folder, "train-images-idx3-ubyte")
    return os.path.isfile(name) or os.path.isfile(name + ".gz")


def load_data(path=None):
    """MNIST: float32 images in [0, 1] shaped (N, 28, 28, 1) and their digits.

    PATH (else $%(env)s) is a folder holding the four IDX files
    (train-images-idx3-ubyte.gz and friends) or mnist.npz, or mnist.npz itself;
    without one, Keras downloads MNIST.
    """
    path = path or %(default)s
    if not path:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    elif os.path.isdir(path) and has_idx(path):
        x_train = read_idx(path, "train-images-idx3-ubyte")
        y_train = read_idx(path, "train-labels-idx1-ubyte")
        x_test = read_idx(path, "t10k-images-idx3-ubyte")
        y_test = read_idx(path, "t10k-labels-idx1-ubyte")
    else:
        npz = os.path.join(path, "mnist.npz") if os.path.isdir(path) else path
        with np.load(npz) as f:
            x_train, y_train = f["x_train"], f["y_train"]
            x_test, y_test = f["x_test"], f["y_test"]

    def scale(x):
        return x.astype("float32").reshape((-1, 28, 28, 1)) / 255.0

    return scale(x_train), y_train, scale(x_test), y_test
'''


def emit_mnist(request: DataRequest, info: DataInfo) -> Code:
    """``load_data(path)`` for ``netdsl emit``: the same files as netdsl reads (or a download)."""
    env = request.env or MNIST_ENV
    default = f'os.environ.get("{env}")'
    if request.path:
        default = f'{json.dumps(request.path)} or {default}'
    return Code(_MNIST_CODE % {"env": env, "default": default},
                ("import gzip", "import os"))


MNIST = Dataset(
    name="mnist",
    describe=describe_mnist,
    load=load_mnist_for_training,
    emit=emit_mnist,
    env=MNIST_ENV,
    description=(
        "MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey, "
        f"10 classes. Read from its path argument or --data PATH, else ${MNIST_ENV} (the four "
        "IDX .gz files or mnist.npz), else Keras's cache, else downloaded by Keras."
    ),
    params=(Param("path", T.Str(), None, positional=True,
                  help="a folder with the four IDX files or mnist.npz, or the .npz itself"),),
)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``mnist`` and ``synthetic``."""
    register(MNIST)
    register(SYNTHETIC)


# --- synthetic ----------------------------------------------------------------------------------

def describe_synthetic(request: DataRequest) -> DataInfo:
    """Shaped by the program's ``input:``; the target by ``task`` (and ``classes``/``outputs``)."""
    from netdsl.errors import NetdslArgumentError

    if request.input_shape is None:
        raise NetdslArgumentError(
            "`synthetic` makes examples of the program's input shape, and the program gives none",
            label="no `input:`", code="NDL005", help="add a line such as `input: 28x28x1`")
    a = request.args
    target = {"classes": Target("classes", a["classes"]), "binary": Target("binary"),
              "regression": Target("regression", shape=(a["outputs"],))}[a["task"]]
    return DataInfo(tuple(request.input_shape), target, train_size=a["train_size"])


def load_synthetic(
    request: DataRequest, info: DataInfo,
) -> "tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]":
    """Uniform random examples in [0, 1) and random targets, the same for the same ``seed``."""
    import numpy as np

    a = request.args
    rng = np.random.default_rng(a["seed"])

    def split(n: int) -> "tuple[np.ndarray, np.ndarray]":
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
        Param("task", T.Choice(("classes", "binary", "regression")), "classes", positional=True,
              help="what the targets are"),
        Param("classes", T.Int(min=2, max=1_000_000), 10, help="number of classes (task=classes)"),
        Param("outputs", T.Int(min=1, max=1_000_000), 1, help="regression outputs (task=regression)"),
        Param("train_size", T.Int(min=1, max=10_000_000), 1024, help="training examples"),
        Param("test_size", T.Int(min=1, max=10_000_000), 256, help="test examples"),
        Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="the random generator's seed"),
    ),
)
