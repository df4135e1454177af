"""netdsl's typed table against its hand-written Keras twin, side by side (issue 23).

    python bench/typed_twin.py DATA_DIR [--epochs 5] [--which table|text|both]

DATA_DIR is what ``examples/data/debian_packages.py DATA_DIR`` wrote (``packages.csv``,
``package_text/``). For the table, netdsl trains ``examples/data/packages.net`` (preprocessing
inside the model, adapted by its one pass over the training split); the twin is the Keras
program one writes by hand: the same rows on each side of the split (netdsl's seeded draw per
chunk of 4,096 lines, replayed), the same Keras preprocessing layers adapted with ``adapt`` on
the training rows and applied in ``tf.data`` (``map``), the embeddings and the same dense layers
in the model, the same optimizer, batch size and epochs. For the text, ``package_text.net``
against a twin reading the same files through ``text_dataset_from_directory``-style ``tf.data``
with ``TextVectorization`` in ``map``. Prints one JSON line per side: test accuracy and training
steps per second (epochs after the first, which includes tracing).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "data"
BATCH = 32


class Clock:
    """Seconds of each epoch, as a Keras callback."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start = 0.0

    def callback(self) -> Any:
        import keras

        clock = self

        class _C(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                clock.start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                clock.times.append(time.perf_counter() - clock.start)

        return _C()

    def steps_per_second(self, steps: int) -> float:
        later = self.times[1:] or self.times
        return steps * len(later) / sum(later)


def netdsl_side(program: Path, data: Path, epochs: int) -> dict[str, Any]:
    """Train the example with netdsl's library API, timing each epoch."""
    import math

    import netdsl
    from netdsl.keras.training import evaluate, fit, load_data

    model = netdsl.check(program.read_text(), filename=str(program), data=str(data))
    model = model.replace(epochs=epochs)
    loaded = load_data(model, data)
    clock = Clock()
    result = fit(model, loaded, verbose=0, callbacks=[clock.callback()])
    test = evaluate(result.net, model, loaded)
    steps = math.ceil(loaded.train_size / model.settings.batch_size)
    return {
        "side": "netdsl",
        "accuracy": round(test["accuracy"], 4),
        "steps_per_s": round(clock.steps_per_second(steps), 1),
        "train_rows": loaded.train_size,
        "test_rows": loaded.test_size,
    }


def _split(path: Path, seed: int = 0, test_split: float = 0.2) -> tuple[list[Any], list[Any]]:
    """The rows of each side, as netdsl draws them: per chunk of 4,096 lines, a stateless
    uniform draw seeded by (seed, chunk) below ``test_split`` holds a row out."""
    import tensorflow as tf

    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    train, test = [], []
    for chunk, start in enumerate(range(0, len(rows), 4096)):
        part = rows[start : start + 4096]
        draw = tf.random.stateless_uniform([len(part)], seed=[seed, chunk]).numpy()
        for row, d in zip(part, draw):
            (test if d < test_split else train).append(row)
    return train, test


def twin_table(data: Path, epochs: int) -> dict[str, Any]:
    """The hand-written Keras twin of ``packages.net``: preprocessing in ``tf.data``."""
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    train, test = _split(data / "packages.csv")
    sections = sorted({r[6] for r in train})

    def columns(rows: list[Any]) -> tuple[dict[str, Any], np.ndarray]:
        depends = np.array([float(r[3]) if r[3] else np.nan for r in rows], np.float32)
        x = {
            "architecture": np.array([r[0] for r in rows]),
            "priority": np.array([r[1] for r in rows]),
            "installed_kb": np.array([float(r[2]) if r[2] else np.nan for r in rows], np.float32)[
                :, None
            ],
            "depends": depends[:, None],
            "maintainer": np.array([r[4] for r in rows]),
            "description": np.array([r[5] for r in rows]),
        }
        y = np.array([sections.index(r[6]) for r in rows], np.int32)
        return x, y

    xt, yt = columns(train)
    xs, ys = columns(test)
    arch = keras.layers.StringLookup(max_tokens=3, output_mode="one_hot", pad_to_max_tokens=True)
    prio = keras.layers.StringLookup(max_tokens=5, output_mode="one_hot", pad_to_max_tokens=True)
    size = keras.layers.Normalization()
    deps = keras.layers.Normalization()
    maint = keras.layers.StringLookup(max_tokens=1000)
    words = keras.layers.TextVectorization(max_tokens=10000, output_sequence_length=16)
    arch.adapt(xt["architecture"])
    prio.adapt(xt["priority"])
    size.adapt(xt["installed_kb"][~np.isnan(xt["installed_kb"])].reshape(-1, 1))
    deps.adapt(xt["depends"][~np.isnan(xt["depends"])].reshape(-1, 1))
    maint.adapt(xt["maintainer"])
    words.adapt(xt["description"])

    def prep(x: dict[str, Any], y: Any) -> tuple[dict[str, Any], Any]:
        d, k = deps(x["depends"]), size(x["installed_kb"])
        numbers = tf.concat(
            [
                tf.where(tf.math.is_nan(k), 0.0, k),
                tf.where(tf.math.is_nan(d), 0.0, d),
                tf.cast(tf.math.is_nan(x["depends"]), tf.float32),
            ],
            axis=1,
        )
        return {
            "numbers": tf.concat(
                [
                    tf.cast(arch(x["architecture"]), tf.float32),
                    tf.cast(prio(x["priority"]), tf.float32),
                    numbers,
                ],
                axis=1,
            ),
            "maintainer": maint(x["maintainer"]),
            "description": words(x["description"]),
        }, y

    def pipeline(x: dict[str, Any], y: Any, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(y), seed=0)
        return ds.batch(BATCH).map(prep, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)

    dense_in = keras.Input((11,), name="numbers")
    m_in = keras.Input((), dtype="int64", name="maintainer")
    d_in = keras.Input((16,), dtype="int64", name="description")
    m = keras.layers.Embedding(1000, 16)(m_in)
    d = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(10000, 32, mask_zero=True)(d_in)
    )
    h = keras.layers.Concatenate()([dense_in, m, d])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dropout(0.2)(h)
    out = keras.layers.Dense(len(sections), activation="softmax")(h)
    net = keras.Model({"numbers": dense_in, "maintainer": m_in, "description": d_in}, out)
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = Clock()
    net.fit(pipeline(xt, yt, True), epochs=epochs, verbose=0, callbacks=[clock.callback()])
    _, accuracy = net.evaluate(pipeline(xs, ys, False), verbose=0)
    return {
        "side": "keras twin (tf.data preprocessing)",
        "accuracy": round(float(accuracy), 4),
        "steps_per_s": round(clock.steps_per_second(-(-len(yt) // BATCH)), 1),
        "train_rows": len(yt),
        "test_rows": len(ys),
    }


def twin_text(data: Path, epochs: int) -> dict[str, Any]:
    """The hand-written Keras twin of ``package_text.net``: the same files on each side (netdsl's
    seeded split per file, replayed), ``TextVectorization`` adapted on the training files and
    applied in ``tf.data``, the embedding and dense layers in the model."""
    import random

    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    root = data / "package_text"
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for i, name in enumerate(names):
        found = sorted(str(p) for p in (root / name).rglob("*.txt"))
        paths += found
        labels += [i] * len(found)
    order = list(range(len(paths)))
    random.Random(0).shuffle(order)
    held = round(len(paths) * 0.2)
    test_i, train_i = sorted(order[:held]), sorted(order[held:])
    text = [Path(p).read_text(encoding="utf-8") for p in paths]
    xt = np.array([text[i] for i in train_i])
    xs = np.array([text[i] for i in test_i])
    yt = np.array([labels[i] for i in train_i], np.int32)
    ys = np.array([labels[i] for i in test_i], np.int32)
    words = keras.layers.TextVectorization(max_tokens=10000, output_sequence_length=16)
    words.adapt(xt)

    def pipeline(x: Any, y: Any, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(y), seed=0)
        return ds.batch(BATCH).map(lambda t, c: (words(t), c)).prefetch(2)

    inp = keras.Input((16,), dtype="int64")
    h = keras.layers.GlobalAveragePooling1D()(
        keras.layers.Embedding(10000, 32, mask_zero=True)(inp)
    )
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(64, activation="relu")(h))
    net = keras.Model(inp, keras.layers.Dense(len(names), activation="softmax")(h))
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = Clock()
    net.fit(pipeline(xt, yt, True), epochs=epochs, verbose=0, callbacks=[clock.callback()])
    _, accuracy = net.evaluate(pipeline(xs, ys, False), verbose=0)
    return {
        "side": "keras twin (tf.data preprocessing)",
        "accuracy": round(float(accuracy), 4),
        "steps_per_s": round(clock.steps_per_second(-(-len(yt) // BATCH)), 1),
        "train_rows": len(yt),
        "test_rows": len(ys),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--which", choices=("table", "text", "both"), default="both")
    args = parser.parse_args()
    sides = {
        "table": (
            lambda: netdsl_side(EXAMPLES / "packages.net", args.data / "packages.csv", args.epochs),
            lambda: twin_table(args.data, args.epochs),
        ),
        "text": (
            lambda: netdsl_side(
                EXAMPLES / "package_text.net", args.data / "package_text", args.epochs
            ),
            lambda: twin_text(args.data, args.epochs),
        ),
    }
    for which in ("table", "text") if args.which == "both" else (args.which,):
        for side in sides[which]:
            print(json.dumps({"example": which, **side()}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
