"""Worker: train a netdsl spec with given speed options, probing test accuracy after each epoch.

Runs netdsl's own training path (check -> load_data -> training.train with TrainOptions) and adds
one callback that, at every epoch end, measures test accuracy and the clock. The probe's own
time is subtracted, so ``t`` is what a plain ``netdsl run`` would have spent by then.

    python bench/train_probe.py SPEC.net --data DIR [--epochs N] [--batch-size B]
        [--steps-per-execution N] [--jit | --no-jit] [--threads N]
        [--pipeline numpy|tfdata] [--target 0.97 [--stop-at-target]] [--seed S]

Prints one line of JSON: startup seconds (process start to the first training step's epoch),
per-epoch rows {epoch, t, train_s, test_accuracy}, time_to_target (None if not reached).
``--pipeline tfdata`` feeds fit() a tf.data pipeline (from_tensor_slices -> cache -> shuffle ->
batch -> prefetch) instead of NumPy arrays: an experiment, not a netdsl option.
"""

import time

START = time.perf_counter()

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from netdsl.checking.checker import check
from netdsl.keras.training import TrainOptions, compile_net, load_data, set_threads, train
from netdsl.lang.parser import parse
from netdsl.vocab.registry import load_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec")
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--steps-per-execution", type=int, default=TrainOptions().steps_per_execution)
    ap.add_argument("--jit", dest="jit", action="store_true", default=None)
    ap.add_argument("--no-jit", dest="jit", action="store_false")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--pipeline", choices=["numpy", "tfdata"], default="numpy")
    ap.add_argument("--target", type=float, default=0.97)
    ap.add_argument("--stop-at-target", action="store_true")
    a = ap.parse_args()

    text = Path(a.spec).read_bytes()
    model = check(parse(text, a.spec), load_registry())
    model = model.replace(
        **{
            k: v
            for k, v in (("epochs", a.epochs), ("batch_size", a.batch_size), ("seed", a.seed))
            if v is not None
        }
    )
    options = TrainOptions(
        steps_per_execution=a.steps_per_execution, jit_compile=a.jit, threads=a.threads
    )
    data = load_data(model, a.data)

    from netdsl.keras.runtime import import_keras

    keras = import_keras()
    y_test = np.argmax(data.y_test, axis=1) if data.y_test.ndim == 2 else data.y_test
    rows = []
    state = {"probe": 0.0, "reached": None, "epoch_start": None, "first_epoch_start": None}

    class Probe(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            now = time.perf_counter()
            state["epoch_start"] = now
            if state["first_epoch_start"] is None:
                state["first_epoch_start"] = now

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            train_s = now - state["epoch_start"]
            t = now - START - state["probe"]  # the probes before this one do not count
            correct = 0
            for i in range(0, len(data.x_test), 2000):
                p = self.model(data.x_test[i : i + 2000], training=False)
                correct += int(np.sum(np.argmax(np.asarray(p), axis=1) == y_test[i : i + 2000]))
            acc = correct / len(y_test)
            state["probe"] += time.perf_counter() - now
            rows.append(
                {
                    "epoch": epoch + 1,
                    "t": round(t, 3),
                    "train_s": round(train_s, 3),
                    "test_accuracy": acc,
                    "loss": float((logs or {}).get("loss", float("nan"))),
                }
            )
            if state["reached"] is None and acc >= a.target:
                state["reached"] = rows[-1]
                if a.stop_at_target:
                    self.model.stop_training = True

    if a.pipeline == "numpy":
        train(model, data, verbose=0, callbacks=[Probe()], options=options)
    else:
        import tensorflow as tf

        set_threads(options.threads)
        if model.settings.seed is not None:
            keras.utils.set_random_seed(model.settings.seed)
        net = compile_net(model, options)
        ds = (
            tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
            .cache()
            .shuffle(len(data.x_train), reshuffle_each_iteration=True)
            .batch(model.settings.batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        net.fit(ds, epochs=model.settings.epochs, verbose=0, callbacks=[Probe()])

    reached = state["reached"]
    print(
        json.dumps(
            {
                "spec": a.spec,
                "epochs_run": len(rows),
                "batch_size": model.settings.batch_size,
                "options": options.to_dict(),
                "pipeline": a.pipeline,
                "target": a.target,
                "startup_s": round((state["first_epoch_start"] or START) - START, 3),
                "rows": rows,
                "time_to_target": reached["t"] if reached else None,
                "epochs_to_target": reached["epoch"] if reached else None,
                "best_accuracy": max((r["test_accuracy"] for r in rows), default=None),
                "final_accuracy": rows[-1]["test_accuracy"] if rows else None,
                "total_s": round(time.perf_counter() - START - state["probe"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
