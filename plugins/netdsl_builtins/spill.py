"""Decoded rows spilled to a private temporary file and read back one window at a time.

A CSV whose training rows do not fit the memory budget is decoded once (the checking pass does
it anyway) and its rows written here as fixed-size binary records (float32 features, a 4-byte
label), so that each epoch reads numbers instead of decoding text again: decoding competed with
training for the CPU. The file lives in a folder of its own made by :func:`tempfile.mkdtemp`
(never inside the user's folders) and is removed when the :class:`Spill` is garbage-collected
or at interpreter exit (:func:`weakref.finalize`). Reads are plain ``np.fromfile`` calls of one
window, not a memory map, so only the window being read is resident in the process (the
kernel's page cache is not the process's memory).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PREFIX", "Spill"]

#: the prefix of the temporary folder a spill file lives in (``$TMPDIR/netdsl-csv-XXXX``)
PREFIX = "netdsl-csv-"


class Spill:
    """Rows of ``features`` float32 values and one label (``label_dtype``: int32 or float32)
    appended to a file in a new temporary folder; :meth:`read` returns a range of them. Raises
    ``OSError`` when the folder or the file cannot be made or written (the caller falls back)."""

    def __init__(self, features: int, label_dtype: Any, prefix: str = PREFIX) -> None:
        self.features = features
        self.record = np.dtype([("x", np.float32, (features,)), ("y", np.dtype(label_dtype))])
        self.folder = Path(tempfile.mkdtemp(prefix=prefix))
        self._remove = weakref.finalize(self, shutil.rmtree, str(self.folder), True)
        self.path = self.folder / "train.rows"
        self.rows = 0
        try:
            self._file: Any = open(self.path, "wb")  # noqa: SIM115 - closed by finish() or remove()
        except OSError:
            self._remove()
            raise

    @property
    def bytes(self) -> int:
        """The bytes written: ``rows`` times the record size."""
        return self.rows * self.record.itemsize

    def append(self, x: np.ndarray, y: np.ndarray) -> None:
        """Write rows ``x`` (n, features) and their labels ``y`` (n,) at the end of the file."""
        block = np.empty(len(x), self.record)
        block["x"] = x
        block["y"] = np.reshape(y, -1)
        self._file.write(block.tobytes())
        self.rows += len(block)

    def finish(self) -> None:
        """Close the file after the last row (a full disk may only show here)."""
        self._file.close()

    def read(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``start`` to ``start + count``: features (count, features) float32 and labels
        (count, 1), both contiguous, read with one plain read."""
        block = np.fromfile(
            self.path, self.record, count=count, offset=start * self.record.itemsize
        )
        return np.ascontiguousarray(block["x"]), np.ascontiguousarray(block["y"]).reshape(-1, 1)

    def remove(self) -> None:
        """Delete the folder now (also done when this object is collected, or at exit)."""
        if not self._file.closed:
            self._file.close()
        self._remove()

    @property
    def removed(self) -> bool:
        """Whether the folder is gone (removed, or this object finalised)."""
        return not self._remove.alive
