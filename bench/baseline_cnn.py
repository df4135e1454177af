"""Baseline for `netdsl run examples/cnn.net`: the same model, data and hyperparameters, by hand.

examples/cnn.net, written out in Keras: two blocks of [Conv2D(f, 3, relu, same) -> BatchNorm ->
Conv2D(f, 3, relu, same) -> BatchNorm -> MaxPooling2D(2) -> Dropout(0.25)] for f = 32, 64, then
Flatten -> Dense(128, relu) -> Dropout(0.5) -> Dense(10, softmax); Adam(learning_rate=0.001),
categorical cross-entropy, accuracy, batch size 128, 12 epochs, seed 42 (the file's `seed: 42`
means Keras's set_random_seed(42) plus TensorFlow's deterministic ops, as netdsl does).

    python bench/baseline_cnn.py --data /path/to/mnist [--epochs 12] [--batch-size 128]

Prints one line of JSON: {"test_accuracy": ..., "test_loss": ..., "wall_seconds": ...}.
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
import tensorflow as tf  # noqa: E402


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
        return x.reshape(len(x), 28, 28, 1).astype("float32") / 255.0

    def labels(name):
        return keras.utils.to_categorical(read_idx(os.path.join(folder, name)), 10)

    return (
        images("train-images-idx3-ubyte.gz"),
        labels("train-labels-idx1-ubyte.gz"),
        images("t10k-images-idx3-ubyte.gz"),
        labels("t10k-labels-idx1-ubyte.gz"),
    )


def conv_block(filters):
    return [
        keras.layers.Conv2D(filters, 3, activation="relu", padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.Conv2D(filters, 3, activation="relu", padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Dropout(0.25),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_test, y_test = load(args.data)

    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            *conv_block(32),
            *conv_block(64),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.001),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
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
