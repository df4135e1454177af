"""Keras in this process: importing it on the chosen backend (or explaining how to install it),
and keeping TensorFlow's native log noise off the terminal. Every module that needs Keras gets it
from :func:`import_keras`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import NetdslTrainingError
from ..vocab.backends import install_hint, resolve

__all__ = ["filtered_native_logs", "import_keras", "native_noise", "quiet_native_logs"]


#: lines TensorFlow's C++ runtime writes to the terminal that say nothing actionable
_TF_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|use_unbounded_threadpool|cpu_feature_guard"
    r"|This TensorFlow binary is optimized|rebuild TensorFlow with the appropriate compiler flags"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning|successful NUMA node read|Could not find cuda drivers"
    r"|\[Gloo\] Rank \d+ is connected to \d+ peer ranks"
)


def native_noise(line: str) -> bool:
    """Whether ``line`` is one of the native log lines that say nothing actionable (what
    ``netdsl run`` keeps off the terminal, and ``netdsl launch`` off its processes' output)."""
    return _TF_NOISE.search(line) is not None


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Hold what native code writes to stderr (file descriptor 2) and pass on all but the
    known noise. ``NETDSL_TF_LOGS=1`` (``netdsl -v``) shows everything as it comes."""
    if os.environ.get("NETDSL_TF_LOGS", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [
                line
                for line in held.read().decode("utf-8", "replace").splitlines(keepends=True)
                if not _TF_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


@contextmanager
def filtered_native_logs() -> Iterator[None]:
    """Pass what is written to stderr (file descriptor 2) on as it comes, line by line, less
    the known noise (TensorFlow logs some when a seeded, deterministic run first iterates its
    data). For long phases such as training, where :func:`quiet_native_logs` would hold
    warnings back until the end. ``NETDSL_TF_LOGS=1`` (``netdsl -v``) shows everything."""
    if os.environ.get("NETDSL_TF_LOGS", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:
                if not _TF_NOISE.search(line.decode("utf-8", "replace")):
                    os.write(saved, line)

    thread = threading.Thread(target=pump, name="netdsl-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the pump reads to its end and stops
        thread.join(timeout=10)
        os.close(saved)


def import_keras(backend: str | None = None) -> Any:
    """Import Keras on ``backend`` (None: the backend already loaded, else ``$KERAS_BACKEND``,
    else TensorFlow), quietly, or explain how to install it. Keras fixes its backend at its
    first import, so asking for another one later in the same process is an error, not a
    silent switch."""
    loaded = sys.modules.get("keras")
    if loaded is not None and hasattr(loaded, "backend"):
        current = loaded.backend.backend()
        if backend is not None and current != backend:
            raise NetdslTrainingError(
                f"Keras is already running on the {current} backend in this process; it cannot "
                f"switch to {backend}",
                code="NDL320",
                help="Keras fixes its backend when it is first imported: run netdsl in a new "
                f"process (or set KERAS_BACKEND={backend} before importing Keras)",
            )
        return loaded
    name = resolve(backend)
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if importlib.util.find_spec(name) is None:
            raise ImportError(f"no module named {name!r}")
        with quiet_native_logs():
            import keras
    except ImportError as e:
        what = "TensorFlow is" if name == "tensorflow" else f"The {name} backend is"
        raise NetdslTrainingError(
            f"{what} needed to build and train models, and it is not installed ({e})",
            help=install_hint(name)
            + ("  (or 'netdsl[gpu]' for the CUDA build on Linux)" if name == "tensorflow" else ""),
            code="NDL301",
        ) from None
    return keras
