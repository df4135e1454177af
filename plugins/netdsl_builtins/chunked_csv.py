"""The chunked ``tf.data`` reading shared by the numeric and the typed CSV readers.

A subclass decodes one chunk of lines into ``(x, y, is_test)``; this base batches the file into
chunks, splits each into its training and test rows, and casts y to a column per label. x may be
a tensor (numeric reader) or a dict of column tensors (typed reader): rows are kept leaf by leaf.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ChunkedCsv"]


class ChunkedCsv:
    """The chunk/split plumbing of a CSV read in whole chunks of ``chunk_rows`` lines, each row's
    train/test side drawn in :meth:`decode` from (seed, chunk): the same split on every read."""

    layout: Any  # a netdsl_builtins.tabular.CsvLayout
    y_type: Any
    chunk_rows: int

    @property
    def label_width(self) -> int:
        """How many label columns y holds."""
        return 1

    def decode(self, index: Any, lines: Any) -> tuple[Any, Any, Any]:
        """One chunk's ``(x, y, is_test)``, its blank lines dropped."""
        raise NotImplementedError

    def chunks(self) -> Any:
        """The decoded chunks from the start of the file, in order."""
        import tensorflow as tf

        lines = tf.data.TextLineDataset(str(self.layout.path)).skip(1).batch(self.chunk_rows)
        return lines.enumerate().map(
            self.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    def part(self, test: bool) -> Any:
        """The chunks' test rows (``test``) or training rows, as ``(x, y)``, y a column a label."""
        import tensorflow as tf

        pick = self._test_rows if test else self._train_rows
        return self.chunks().map(pick, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def _train_rows(self, x: Any, y: Any, is_test: Any) -> tuple[Any, Any]:
        """A chunk's training rows."""
        import tensorflow as tf

        return self._rows(x, y, tf.logical_not(is_test))

    def _test_rows(self, x: Any, y: Any, is_test: Any) -> tuple[Any, Any]:
        """A chunk's test rows."""
        return self._rows(x, y, is_test)

    def _rows(self, x: Any, y: Any, keep: Any) -> tuple[Any, Any]:
        """The rows ``keep`` selects, y cast to the target's type, a column per label."""
        import tensorflow as tf

        y = tf.reshape(tf.cast(tf.boolean_mask(y, keep), self.y_type), [-1, self.label_width])
        return tf.nest.map_structure(lambda v: tf.boolean_mask(v, keep), x), y
