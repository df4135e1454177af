"""Baseline for `netdsl check` / `netdsl summary`: the least a Python user pays by hand to see
a model's layers, shapes and parameter counts: import Keras (TensorFlow), build the model,
print model.summary().

    python bench/baseline_summary.py [--model mlp|cnn]

mlp is examples/mnist.net; cnn is examples/cnn.net, both written out by hand. No compile():
summary() does not need one, and the baseline is the least a user pays.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras


def mlp():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(
                64, activation="relu", kernel_regularizer=keras.regularizers.L2(0.01)
            ),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cnn():
    def conv_block(filters):
        return [
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(filters, 3, activation="relu", padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(2),
            keras.layers.Dropout(0.25),
        ]

    return keras.Sequential(
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    args = parser.parse_args()
    model = {"mlp": mlp, "cnn": cnn}[args.model]()
    model.summary()


if __name__ == "__main__":
    main()
