"""Built-in datasets: ``mnist`` (official IDX files or Keras's ``mnist.npz``; see
:mod:`netdsl_builtins.mnist_files`).

``describe`` answers from constants (no file is touched by ``netdsl check``); loading is NumPy
only, and TensorFlow is imported solely if MNIST must be downloaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdsl import types as T
from netdsl.components import DataInfo, DataRequest, Dataset, Param, Target
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


MNIST = Dataset(
    name="mnist",
    describe=describe_mnist,
    load=load_mnist_for_training,
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


SYNTHETIC = Dataset(
    name="synthetic",
    describe=describe_synthetic,
    load=load_synthetic,
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
