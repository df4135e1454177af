"""Built-in datasets: ``mnist`` (official IDX files or Keras's ``mnist.npz``; see :mod:`netdsl.data`).

Loading is NumPy only; TensorFlow is imported solely if MNIST must be downloaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from netdsl.components import Dataset
from netdsl.hookspecs import Register, hookimpl

if TYPE_CHECKING:  # pragma: no cover - NumPy loads with the data, not with `netdsl check`
    import numpy as np

__all__ = ["register_datasets", "MNIST_SHAPE", "load_mnist_for_training"]

MNIST_SHAPE = (28, 28, 1)
MNIST_CLASSES = 10


def load_mnist_for_training(
    source: str | os.PathLike[str] | None,
) -> "tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]":
    """MNIST as ``(x_train, y_train, x_test, y_test)``: x float32 in [0, 1] ``(N, 28, 28, 1)``, y uint8."""
    from netdsl.data import load_mnist, scale_images

    m = load_mnist(source)
    return (scale_images(m.x_train, MNIST_SHAPE), m.y_train,
            scale_images(m.x_test, MNIST_SHAPE), m.y_test)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``mnist``."""
    register(Dataset(
        name="mnist",
        input_shape=MNIST_SHAPE,
        num_classes=MNIST_CLASSES,
        load=load_mnist_for_training,
        description=(
            "MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey, "
            "10 classes. Read from --data PATH / NETDSL_DATA (the four IDX .gz files or "
            "mnist.npz), else Keras's cache, else downloaded by Keras."
        ),
        params=(),
    ))
