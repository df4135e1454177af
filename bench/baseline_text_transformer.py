"""Baseline for `netdsl run examples/text/text_transformer.net`: the Keras example by hand.

The model of keras.io/examples/nlp/text_classification_with_transformer (TransformerBlock and
TokenAndPositionEmbedding written as the example writes them; maxlen 200, vocabulary 20,000,
embedding 32, 2 heads, feed-forward 32), adam, sparse categorical cross-entropy, accuracy,
trained on the same .npz netdsl reads (examples/text/debian_text.py; labels as one-hot rows,
turned into class ids here as the example's loss wants), then evaluated on its test split.
Seed 42 means Keras's set_random_seed(42) plus TensorFlow's deterministic ops, as netdsl does
for the file's `seed: 42`.

    python bench/baseline_text_transformer.py --data debian_text.npz [--epochs 5] [--batch-size 32]

Prints one line of JSON: {"test_accuracy", "test_loss", "params", "wall_seconds"} (wall_seconds
from the start of the script, imports included, as netdsl's process is timed).
"""

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import numpy as np  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers, ops  # noqa: E402

MAXLEN, VOCAB, EMBED, HEADS, FF = 200, 20_000, 32, 2, 32


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential(
            [layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)]
        )
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = ops.shape(x)[-1]
        positions = ops.arange(start=0, stop=maxlen, step=1)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def make_model():
    """The example's model, unchanged."""
    inputs = layers.Input(shape=(MAXLEN,))
    embedding_layer = TokenAndPositionEmbedding(MAXLEN, VOCAB, EMBED)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(EMBED, HEADS, FF)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def load(path):
    """The npz's four arrays; one-hot label rows become class ids."""
    with np.load(path) as d:
        x_train, y_train, x_test, y_test = (
            d[k] for k in ("x_train", "y_train", "x_test", "y_test")
        )
    if y_train.ndim == 2:
        y_train, y_test = y_train.argmax(1), y_test.argmax(1)
    return x_train, y_train, x_test, y_test


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the .npz debian_text.py wrote")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)  # as netdsl does for the file's `seed: 42`:
    tf.config.experimental.enable_op_determinism()  # the seed and TensorFlow's deterministic ops

    x_train, y_train, x_test, y_test = load(args.data)
    model = make_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(
        json.dumps(
            {
                "test_accuracy": float(accuracy),
                "test_loss": float(loss),
                "params": int(model.count_params()),
                "wall_seconds": round(time.perf_counter() - START, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
