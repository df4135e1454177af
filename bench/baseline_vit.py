"""Baseline for `netdsl run examples/vit.net`: the same vision transformer, data and
hyperparameters, written by hand in Keras.

examples/vit.net in Keras: Conv2D(64, 7, strides=7) embeds the 16 patches, Reshape((16, 64)),
a learned position embedding (a weight of 16 x 64 added to the patches), two transformer encoder
blocks as KerasHub's TransformerEncoder (post-norm; MultiHeadAttention(4 heads, key_dim 16,
dropout 0.1), Dropout(0.1), Add, LayerNormalization(1e-5); Dense(128, relu), Dense(64),
Dropout(0.1), Add, LayerNormalization(1e-5)), LayerNormalization, GlobalAveragePooling1D,
Dense(10, softmax); Adam(learning_rate=0.001), categorical cross-entropy, accuracy, batch size
128, 3 epochs, seed 42 (Keras's set_random_seed(42) plus TensorFlow's deterministic ops).

    python bench/baseline_vit.py --data /path/to/mnist [--epochs 3] [--batch-size 128]

Prints one line of JSON: {"test_accuracy": ..., "test_loss": ..., "wall_seconds": ...}.
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from baseline_cnn import load  # noqa: E402  (the same IDX files, read the same way)


class PositionEmbedding(keras.layers.Layer):
    """A learned vector added to each position (as KerasHub's PositionEmbedding)."""

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings", shape=tuple(input_shape[1:]), initializer="glorot_uniform"
        )

    def call(self, x):
        return x + self.embeddings


def encoder(x, width=64, heads=4, ff=128, rate=0.1):
    """KerasHub's TransformerEncoder (normalize_first=False), written out."""
    y = keras.layers.MultiHeadAttention(heads, width // heads, dropout=rate)(x, x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(
        keras.layers.Add()([x, keras.layers.Dropout(rate)(y)])
    )
    y = keras.layers.Dense(ff, activation="relu")(x)
    y = keras.layers.Dropout(rate)(keras.layers.Dense(width)(y))
    return keras.layers.LayerNormalization(epsilon=1e-5)(keras.layers.Add()([x, y]))


def build():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(64, 7, strides=7)(inputs)
    x = PositionEmbedding()(keras.layers.Reshape((16, 64))(x))
    x = encoder(encoder(x))
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with the four MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    keras.utils.set_random_seed(42)
    tf.config.experimental.enable_op_determinism()
    x_train, y_train, x_test, y_test = load(args.data)
    model = build()
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
                "params": model.count_params(),
                "wall_seconds": round(time.perf_counter() - START, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
