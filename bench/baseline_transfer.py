"""Baseline for examples/transfer/digits04.net + examples/transfer/digits59.net: the Keras recipe
"transfer learning on MNIST" (keras-team/keras examples/mnist_transfer_cnn.py) by hand.

Step 1: conv 32 3 relu, conv 32 3 relu, maxpool 2, dropout 0.25, flatten (the feature layers),
dense 128 relu, dropout 0.5, dense 5 softmax, trained on the digits 0-4. Step 2: the feature
layers frozen, a new classifier (as netdsl's transfer.net; the recipe keeps training its old
one) trained on the digits 5-9 (labels 5-9 as 0-4). Adadelta at learning rate 1.0 (the recipe's
Keras 2 default), batch 128, 5 epochs each, seed 42 with TensorFlow's deterministic ops (as
netdsl does for `seed: 42`); each step evaluated on the test images of its digits.

    python bench/baseline_transfer.py --data /path/to/mnist [--epochs 5]

Prints one line of JSON: each step's test accuracy and wall seconds, and the whole wall time.
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
from keras import layers  # noqa: E402


def read_idx(path):
    """An IDX file (gzip-compressed) as a NumPy uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(folder):
    """(x_train, y_train, x_test, y_test): images in [0, 1] shaped 28x28x1, digit labels."""

    def images(name):
        x = read_idx(os.path.join(folder, name))
        return x.reshape(len(x), 28, 28, 1).astype("float32") / 255.0

    def digits(name):
        return read_idx(os.path.join(folder, name)).astype("int64")

    return (
        images("train-images-idx3-ubyte.gz"),
        digits("train-labels-idx1-ubyte.gz"),
        images("t10k-images-idx3-ubyte.gz"),
        digits("t10k-labels-idx1-ubyte.gz"),
    )


def subset(x, y, low):
    """The examples of the digits low..low+4, labelled 0..4 one-hot."""
    keep = (y >= low) & (y < low + 5)
    return x[keep], keras.utils.to_categorical(y[keep] - low, 5)


def classifier():
    return [
        layers.Dense(128),
        layers.Activation("relu"),
        layers.Dropout(0.5),
        layers.Dense(5),
        layers.Activation("softmax"),
    ]


def train(model, train_xy, test_xy, epochs, batch_size):
    """The recipe's train_model: compile, fit, evaluate; (test accuracy, seconds)."""
    start = time.perf_counter()
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.Adadelta(learning_rate=1.0),
        metrics=["accuracy"],
    )
    model.fit(*train_xy, batch_size=batch_size, epochs=epochs, verbose=0)
    _, accuracy = model.evaluate(*test_xy, batch_size=256, verbose=0)
    return float(accuracy), round(time.perf_counter() - start, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()

    x_train, y_train, x_test, y_test = load(args.data)
    feature_layers = [
        layers.Conv2D(32, 3, padding="valid"),
        layers.Activation("relu"),
        layers.Conv2D(32, 3),
        layers.Activation("relu"),
        layers.MaxPooling2D(pool_size=2),
        layers.Dropout(0.25),
        layers.Flatten(),
    ]
    model = keras.Sequential([keras.Input((28, 28, 1)), *feature_layers, *classifier()])
    first = train(
        model, subset(x_train, y_train, 0), subset(x_test, y_test, 0), args.epochs, args.batch_size
    )
    for layer in feature_layers:
        layer.trainable = False
    model = keras.Sequential([keras.Input((28, 28, 1)), *feature_layers, *classifier()])
    second = train(
        model, subset(x_train, y_train, 5), subset(x_test, y_test, 5), args.epochs, args.batch_size
    )
    print(
        json.dumps(
            {
                "digits_0_4": {"test_accuracy": first[0], "seconds": first[1]},
                "digits_5_9": {"test_accuracy": second[0], "seconds": second[1]},
                "trainable_params_step2": int(
                    sum(np.prod(w.shape) for w in model.trainable_weights)
                ),
                "wall_seconds": round(time.perf_counter() - START, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
