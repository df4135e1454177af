"""The chunked ``tf.data`` reading shared by the numeric and the typed CSV readers.

A subclass decodes one chunk of lines into ``(x, y, is_test)``; this base batches the file into
chunks, splits each into its training and test rows, and casts y to a column per label. x may be
a tensor (numeric reader) or a dict of column tensors (typed reader): rows are kept leaf by leaf.
The training order (each window permuted, or all held rows permuted) is shared here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ChunkedCsv", "WindowShuffle", "held_epoch"]


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

    def shuffled_windows(self, window: int, batch_size: int, shuffle: WindowShuffle) -> Any:
        """One epoch of training batches decoded again from the text: the training rows of each
        window of ``window`` rows permuted by ``shuffle``."""
        import tensorflow as tf

        windows = self.part(False).rebatch(window).enumerate()
        return windows.map(
            shuffle.permute, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        ).rebatch(batch_size)

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


@dataclass(frozen=True, eq=False)
class WindowShuffle:
    """The rows of each window permuted by a draw seeded by (the epoch's seed, window)."""

    epoch_seed: Any

    def permute(self, index: Any, xy: tuple[Any, Any]) -> tuple[Any, Any]:
        """Window ``index``'s rows in this epoch's order."""
        import tensorflow as tf

        x, y = xy
        order = tf.argsort(
            tf.random.stateless_uniform(tf.shape(y)[:1], seed=tf.stack([self.epoch_seed, index]))
        )
        return tf.nest.map_structure(lambda v: tf.gather(v, order), x), tf.gather(y, order)


@dataclass(frozen=True, eq=False)
class _HeldRows:
    """Rows ``i`` of the training rows held in memory."""

    rows: tuple[Any, Any]

    def __call__(self, i: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        xs, ys = self.rows
        return tf.nest.map_structure(lambda v: tf.gather(v, i), xs), tf.gather(ys, i)


def held_epoch(rows: tuple[Any, Any], size: int, batch_size: int, epoch_seed: Any) -> Any:
    """One epoch of training batches from the ``size`` rows held in memory: a permutation of
    them all, seeded by the epoch's seed."""
    import tensorflow as tf

    order = tf.argsort(tf.random.stateless_uniform([size], seed=tf.stack([epoch_seed, 0])))
    return (
        tf.data.Dataset.from_tensor_slices(order)
        .batch(batch_size)
        .map(_HeldRows(rows), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    )
