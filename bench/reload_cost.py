"""Cost of the reload check after saving (netdsl.keras.saving.verify_reload) against the save itself.

For the seed MLP and the CNN, LSTM and residual examples (untrained; the cost does not depend
on the weights' values): the median over 5 rounds of ``net.save`` and of ``verify_reload`` (a
full ``keras.saving.load_model`` in a fresh process forked by the checking interpreter, plus a
comparison of every weight), run side by side; and once, the cold start: a new checking
interpreter asked at once (its Python and TensorFlow import included), which a run hides by
starting it when training starts.

    PYTHONPATH=.:plugins python bench/reload_cost.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

import netdsl  # noqa: E402
from netdsl.keras import saving  # noqa: E402
from netdsl.keras.saving import verify_reload  # noqa: E402
from netdsl.vocab.registry import load_registry  # noqa: E402

MODELS = {
    "mlp": "dense 64 relu l2 -> dense 10 softmax",
    **{n: (ROOT / f"examples/{n}.net").read_text() for n in ("cnn", "lstm", "residual")},
}


def main() -> None:
    reg = load_registry(third_party=False)
    print("| model | parameters | save (s) | reload check (s) | check / save |")
    print("| --- | --- | --- | --- | --- |")
    cold = None
    for name, spec in MODELS.items():
        net = netdsl.build(netdsl.check(spec, reg))
        saves, checks = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(5):
                path = Path(tmp) / f"m{i}.keras"
                t = time.perf_counter()
                net.save(path)
                saves.append(time.perf_counter() - t)
                if cold is None:  # a new interpreter, asked at once
                    saving._discard()
                    t = time.perf_counter()
                    verify_reload(path, net)
                    cold = time.perf_counter() - t
                t = time.perf_counter()
                verify_reload(path, net)
                checks.append(time.perf_counter() - t)
        s, c = statistics.median(saves), statistics.median(checks)
        print(f"| {name} | {net.count_params():,} | {s:.3f} | {c:.3f} | {c / s:.1f}x |")
    print(f"\ncold start (a new checking interpreter, asked at once): {cold:.2f} s")


if __name__ == "__main__":
    main()
