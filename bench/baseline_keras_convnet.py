"""Keras's "Simple MNIST convnet" example (keras.io/examples/vision/mnist_convnet), as published.

The recipe, unchanged: Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) ->
MaxPooling2D(2) -> Flatten -> Dropout(0.5) -> Dense(10, softmax); adam (Keras defaults),
categorical cross-entropy, accuracy, batch size 128, 15 epochs, ``validation_split=0.1``; then
``evaluate`` on the 10,000 test images. The only differences: the data is read from the same
IDX .gz files netdsl reads (not downloaded by ``keras.datasets.mnist``), nothing is printed per
epoch (``verbose=0``), and ``--seed`` may seed Keras (the published example is unseeded, so
by default this is too).

    python bench/baseline_keras_convnet.py --data /path/to/mnist [--epochs 15] [--seed S]

Prints one line of JSON: {"test_accuracy", "test_loss", "wall_seconds" (from process start)}.
"""

import time

START = time.perf_counter()

import argparse
import gzip
import json
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras
from keras import layers

__all__ = ["main"]


def read_idx(path: str) -> np.ndarray:
    """An IDX file (gzip-compressed) as a NumPy uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    """Train and evaluate the published recipe; print its test accuracy and wall time."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--seed", type=int, help="keras.utils.set_random_seed (default: unseeded, as published)"
    )
    args = parser.parse_args()
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)

    num_classes = 10
    input_shape = (28, 28, 1)
    x_train = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))
    y_train = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))
    x_test = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    y_test = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(
        json.dumps(
            {
                "test_accuracy": float(accuracy),
                "test_loss": float(loss),
                "epochs": args.epochs,
                "seed": args.seed,
                "wall_seconds": round(time.perf_counter() - START, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
