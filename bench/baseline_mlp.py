"""Baseline for `netdsl run examples/mnist.net`: the same model, data and hyperparameters, by hand.

Plain NumPy + gzip to read the four MNIST IDX files, then a Keras Sequential model:
784 -> Dense(64, relu, L2(0.01)) -> Dense(10, softmax), adam, categorical cross-entropy,
accuracy, fit for 10 epochs at batch size 32, evaluate on the test set.

    python bench/baseline_mlp.py --data /path/to/mnist [--epochs 10] [--batch-size 32]

Prints one line of JSON: {"test_accuracy": ..., "test_loss": ..., "wall_seconds": ...}
(wall_seconds is measured from the start of the script, imports included).
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402


def read_idx(path):
    """An IDX file (gzip-compressed) as a NumPy uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(folder):
    def images(name):
        x = read_idx(os.path.join(folder, name))
        return x.reshape(len(x), 784).astype("float32") / 255.0

    def labels(name):
        return keras.utils.to_categorical(read_idx(os.path.join(folder, name)), 10)

    return (
        images("train-images-idx3-ubyte.gz"),
        labels("train-labels-idx1-ubyte.gz"),
        images("t10k-images-idx3-ubyte.gz"),
        labels("t10k-labels-idx1-ubyte.gz"),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    x_train, y_train, x_test, y_test = load(args.data)

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(
                64, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)
            ),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)

    print(
        json.dumps(
            {
                "test_accuracy": float(accuracy),
                "test_loss": float(loss),
                "wall_seconds": round(time.perf_counter() - START, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
