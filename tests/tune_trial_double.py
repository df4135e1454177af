"""A stand-in for ``netdsl run`` in the tuner's tests: the same command line (FILE --quiet --out
DIR ...) and the same run-folder contract (``history.json`` after each epoch, ``metrics.json``
with the status), in a fraction of a second and without TensorFlow.

The trial's program decides what it does: its first ``dense`` layer's units give the metric
(``val_accuracy = units / 100``, the same every epoch); units 13 crash, units 14 hang;
``$TUNE_DOUBLE_EPOCH_SECONDS`` is how long an epoch takes (default 0.05).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from netdsl.lang.parser import parse


def write(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main() -> None:
    program = parse(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    epochs_setting = program.setting("epochs")
    epochs = epochs_setting.value.value if epochs_setting else 3  # type: ignore[union-attr]
    units = next(s for s in program.network.steps if s.name == "dense").args[0].value.value  # type: ignore[union-attr]
    folder = out / f"trial-{os.getpid()}"
    folder.mkdir(parents=True)
    history: list[dict[str, float]] = []

    def stop(signum: int, frame: object) -> None:
        write(folder / "metrics.json", {"status": "stopped"})
        sys.exit(130)

    signal.signal(signal.SIGTERM, stop)
    write(folder / "metrics.json", {"status": "running"})
    if units == 13:
        raise SystemExit("boom: a crash in the trial")
    for _ in range(epochs):
        time.sleep(float(os.environ.get("TUNE_DOUBLE_EPOCH_SECONDS", "0.05")))
        if units == 14:
            time.sleep(3600)
        history.append({"loss": 1 - units / 100, "val_accuracy": units / 100})
        write(folder / "history.json", {"epochs": history})
    write(folder / "metrics.json", {"status": "finished", "test": {"accuracy": units / 100}})


if __name__ == "__main__":
    main()
