"""A typed CSV (:mod:`netdsl_builtins.typed_csv`) as ``tf.data`` pipelines of raw column values.

Each chunk of :data:`~netdsl_builtins.tabular.CHUNK_ROWS` lines is decoded in C++ with every
cell a string; a number column becomes float32 (NaN for a missing cell), every other column a
string (``""`` for a missing cell); each row's train/test side is drawn as on the numeric path.
``x`` is a dict keyed by column name, as the model's inputs are
(:func:`netdsl.keras.features.encode`). One pass over the file checks every row and learns,
from the training rows only, what the preprocessing layers need (:class:`~.typed_csv.Learned`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import scan_lines
from netdsl.vocab.components import DataInfo, DataRequest, Streams

from .chunked_csv import ChunkedCsv, WindowShuffle, held_epoch
from .typed_csv import HELD_BYTES, Learned, missing_constant, utf8_fault

#: a :class:`netdsl_builtins.tabular.CsvLayout` (that module imports this one, so it is not
#: imported here, even for type checking: the architecture test forbids the cycle)
CsvLayout = Any

__all__ = ["CsvChecks", "typed_streams"]


@dataclass(frozen=True)
class CsvChecks:
    """What the typed reader shares with the numeric one in :mod:`netdsl_builtins.tabular` (which
    imports this module, so they are handed in): checking a chunk's labels, failing at the first
    bad row, refusing an empty side of the split, the record of the order, the chunk size."""

    verify: Callable[[Any, Any, Any, Any], None]
    fail: Callable[[Any, Any, str], NoReturn]
    locate: Callable[[Any], None]
    split_leaves_rows: Callable[[Path, int, int], None]
    order: Callable[[int, bool, bool], str]
    window_rows: Callable[[int], int]
    chunk_rows: int


@dataclass(frozen=True, eq=False)
class _TypedChunks(ChunkedCsv):
    """The typed CSV read in whole chunks, each row's side drawn from (``seed``, chunk)."""

    layout: CsvLayout
    tables: tuple[Any, ...]  # per label column: class name -> id for names, else None
    seed: int
    test_split: float
    y_type: Any
    missing: Any
    chunk_rows: int

    @property
    def label_width(self) -> int:
        """One y column per label column."""
        return len(self.tables)

    def decode(self, index: Any, lines: Any) -> tuple[Any, Any, Any]:
        """One chunk's ``(x, y, is_test)``: x a dict of column values, blank lines dropped."""
        import tensorflow as tf

        layout = self.layout
        lines = tf.strings.regex_replace(lines, "\r$", "")
        lines = tf.boolean_mask(lines, tf.strings.length(tf.strings.strip(lines)) > 0)
        strings = [tf.constant([""], tf.string)] * len(layout.header)  # empty: missing
        cols = tf.io.decode_csv(lines, strings, field_delim=layout.delimiter)
        x = {}
        for column in layout.columns:
            cell = tf.strings.strip(cols[column.index])
            gone = tf.reduce_any(tf.equal(cell[:, None], self.missing[None, :]), axis=1)
            if column.type == "number":
                value = tf.strings.to_number(tf.where(gone, "nan", cell), tf.float32)
            else:
                value = tf.where(gone, "", cell)
            x[column.name] = tf.reshape(value, [-1, 1])
        ys = []
        for one, table in zip(labels_of(layout), self.tables):
            cell = tf.strings.strip(cols[one.label])
            got = table.lookup(cell) if table is not None else tf.strings.to_number(cell)
            ys.append(tf.cast(got, self.y_type))
        y = ys[0] if len(ys) == 1 else tf.stack(ys, axis=1)  # several labels: a column each
        draw = tf.random.stateless_uniform(
            tf.shape(lines), seed=tf.stack([tf.cast(self.seed, tf.int64), index])
        )
        return x, y, draw < self.test_split


@dataclass(frozen=True, eq=False)
class _Pipelines:
    chunks: _TypedChunks
    train_size: int
    window: int
    held: tuple[dict[str, Any], Any] | None

    def train(self, batch_size: int, shuffle_seed: Any) -> Any:
        import tensorflow as tf

        epoch_seed = tf.cast(0 if shuffle_seed is None else shuffle_seed, tf.int64)
        if self.held is not None:
            return held_epoch(self.held, self.train_size, batch_size, epoch_seed)
        return self.chunks.shuffled_windows(self.window, batch_size, WindowShuffle(epoch_seed))

    def test(self, batch_size: int) -> Any:
        return self.chunks.part(True).rebatch(batch_size)


@dataclass
class _Found:
    train: int = 0
    test: int = 0
    held: tuple[dict[str, Any], Any] | None = None


def labels_of(layout: CsvLayout) -> tuple[CsvLayout, ...]:
    """The layout of each label column (one, or those of ``label=["a", "b"]``)."""
    return (layout, *layout.more)


def _by_label(layout: CsvLayout) -> Any:
    """A map from ``(x, y)`` with y a column per label to y by label name (several labels)."""
    import tensorflow as tf

    names = [one.header[one.label] for one in labels_of(layout)]

    def split(x: Any, y: Any) -> tuple[Any, Any]:
        return x, {n: y[:, i : i + 1] for i, n in enumerate(names)}

    return lambda ds: ds.map(split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _label_table(layout: CsvLayout) -> Any:
    import tensorflow as tf

    if layout.label_kind != "names":
        return None
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(layout.class_names), tf.range(len(layout.class_names), dtype=tf.int64)
        ),
        -1,
    )


def _pass(
    layout: CsvLayout, chunks: _TypedChunks, info: DataInfo, hold: bool, checks: CsvChecks
) -> tuple[_Found, Learned]:
    """The one pass: every row checked, the training rows' statistics learned (and, for a small
    file, the training rows kept)."""
    import numpy as np
    import tensorflow as tf

    found, learned = _Found(), Learned.of(layout.columns)
    kept: list[tuple[dict[str, np.ndarray], np.ndarray]] = []
    numbers = [c.name for c in layout.columns if c.type == "number"]

    def summarise(x: Any, y: Any, is_test: Any) -> tuple[Any, Any, Any, Any, Any]:
        infinite = tf.reduce_any([tf.reduce_any(tf.math.is_inf(x[n])) for n in numbers] or [False])
        return x, y, is_test, infinite, learned.summarise(x, tf.logical_not(is_test))

    summaries = chunks.chunks().map(
        summarise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    try:
        for x, y, is_test, infinite, summary in summaries:
            k = int(tf.reduce_sum(tf.cast(is_test, tf.int32)))
            found.test += k
            found.train += int(tf.size(is_test)) - k
            if bool(infinite):
                checks.fail(layout, None, "a number is infinite")
            for i, one in enumerate(labels_of(layout)):
                y_i = y if not layout.more else y[:, i]
                checks.verify(one, one.target, tf.zeros([1]), y_i)
            learned.merge(summary)
            if hold:
                keep = ~is_test.numpy()
                kept.append(({n: v.numpy()[keep] for n, v in x.items()}, y.numpy()[keep]))
    except tf.errors.OpError as exc:
        _fault(layout, exc, checks)
    checks.split_leaves_rows(layout.path, found.train, found.test)
    if hold and kept:
        xs = {n: tf.constant(np.concatenate([x[n] for x, _ in kept])) for n in kept[0][0]}
        ys = np.concatenate([y for _, y in kept]).astype(chunks.y_type.as_numpy_dtype)
        found.held = (xs, tf.constant(ys.reshape(-1, len(chunks.tables))))
    return found, learned


def _fault(layout: CsvLayout, exc: Any, checks: CsvChecks) -> NoReturn:
    """A TensorFlow read error as the file's own: bad UTF-8 or the row Python finds at fault."""
    fault = utf8_fault(layout.path)
    if fault.span is not None:
        raise fault
    checks.locate(layout)
    raise NetdslDataError(
        f"{layout.path}: cannot be read as CSV: {exc.message.splitlines()[0]}"
    ) from None


def typed_streams(
    layout: CsvLayout, request: DataRequest, info: DataInfo, checks: CsvChecks
) -> Streams:
    """The typed CSV as :class:`Streams` whose ``state`` is what the preprocessing layers learn."""
    import tensorflow as tf

    a = request.args
    scan_lines(layout.path)  # line lengths, NUL bytes, bare CRs: before TensorFlow reads a line
    several = bool(layout.more)  # several labels: ids and values side by side, as floats
    y_type = tf.int32 if info.target.kind == "classes" and not several else tf.float32
    chunks = _TypedChunks(
        layout,
        tuple(_label_table(one) for one in labels_of(layout)),
        int(a["seed"]),
        float(a["test_split"]),
        y_type,
        missing_constant(),
        checks.chunk_rows,
    )
    hold = layout.path.stat().st_size <= HELD_BYTES
    found, learned = _pass(layout, chunks, info, hold, checks)
    window = checks.window_rows(len(layout.columns) * 8)
    pipelines = _Pipelines(chunks, found.train, window, found.held)
    record = {
        "source": str(layout.path),
        "format": "csv",
        "streamed": found.held is None,
        "cached_in_memory": found.held is not None,
        "split": {
            "test_split": chunks.test_split,
            "seed": chunks.seed,
            "method": "per row, a stateless uniform draw seeded by (seed, chunk of lines)",
        },
        "order": checks.order(window, False, found.held is not None),
        "label_column": layout.header[layout.label]
        if not several
        else [one.header[one.label] for one in labels_of(layout)],
        "label_note": layout.note or None,
        "feature_columns": [c.name for c in layout.columns],
        "columns": [c.to_json() for c in layout.columns],
        "adapted_on": "the training split only, in one pass",
    }
    named = _by_label(layout) if several else (lambda ds: ds)
    return Streams(
        lambda batch_size, seed: named(pipelines.train(batch_size, seed)),
        lambda batch_size: named(pipelines.test(batch_size)),
        found.train,
        found.test,
        layout.class_names,
        record,
        state=learned.state(),
    )
