"""Typed CSV columns: numbers, categories, binary values and text, with missing cells.

``check`` reads the first rows (``csv``'s sample, 8 KB) and gives every feature column a type
(:func:`netdsl.vocab.columns.infer_type`) unless the program names it:
``csv("t.csv", label="y", text=["description"], category=["zip"], ignore=["id"])``. A table
whose features are all numbers without a missing cell in the sample, and no override, stays on
the plain numeric path of :mod:`netdsl_builtins.tabular`; any other is read here.

Training makes one streamed pass over the file (:func:`typed_streams`): every row checked
(a cell that breaks its column's type, bad UTF-8, a bad label: an error at file:line:col), and
from the training rows only, each number column's mean and variance, each lookup's value counts
and each text column's word counts (bounded: counts are pruned to the most frequent), which
:func:`netdsl.keras.features.adapt` gives the model's preprocessing layers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.errors import NetdslDataError, SourceLines, Span
from netdsl.keras.datafiles import MAX_LINE_CHARS, parse_number, read_lines, split_row
from netdsl.vocab.columns import MISSING, TYPES, Column, infer_type, is_missing, make_column
from netdsl.vocab.registry import suggest

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "HELD_BYTES",
    "OVERRIDES",
    "columns_of",
    "overrides_of",
    "row_problem",
]

#: the types a dataset argument may list columns under (``text=["description"]``)
OVERRIDES = TYPES
#: the training split's decoded cells are held in memory when the file is at most this big;
#: a bigger file is decoded from its text each epoch, a window at a time
HELD_BYTES = 32 << 20
#: a lookup's value counts are pruned to the most frequent when they pass this many times its
#: size, so counting a column of a million distinct values keeps memory bounded
PRUNE_FACTOR = 8
#: TextVectorization's default standardization, replayed when counting words
STRIP_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'


def cell_error(
    path: Path,
    line: int,
    text: str,
    col: int,
    width: int,
    message: str,
    label: str,
    help: str | None = None,
) -> NetdslDataError:
    """An error at ``path:line:col`` carrying that line, so it is drawn with a caret."""
    span = Span(0, 0, line, col + 1, line, col + 1 + max(width, 1), str(path))
    return NetdslDataError(
        message, span, label=label, help=help, code="NDL101", source=SourceLines({line: text})
    )


def overrides_of(args: Mapping[str, Any]) -> dict[str, str]:
    """``{column: type}`` from the dataset's ``number=[...]``, ``text=[...]``, ... arguments
    and its ``types={column: type, ...}`` mapping."""
    out: dict[str, str] = {}
    given = [(name, type_) for type_ in OVERRIDES for name in args.get(type_) or ()]
    given += list((args.get("types") or {}).items())
    for name, type_ in given:
        if name in out and out[name] != type_:
            raise NetdslDataError(
                f"column `{name}` is listed as both {out[name]} and {type_}",
                _key_span(args, name),
                help="give each column one type",
            )
        out[name] = type_
    return out


def _key_span(args: Mapping[str, Any], name: str) -> Span | None:
    """Where ``name`` is written as a key of ``types={...}`` (None: not there, or no span)."""
    spans = getattr(args.get("types"), "spans", None) or {}
    span = spans.get(name)
    return span if isinstance(span, Span) else None


def _check_overrides(
    path: Path,
    header: Sequence[str],
    labels: Sequence[int],
    overrides: Mapping[str, str],
    args: Mapping[str, Any],
) -> None:
    for name in overrides:
        if name in (header[i] for i in labels):
            raise NetdslDataError(
                f"{path}: `{name}` is the label column; the type arguments name feature columns",
                _key_span(args, name),
                help="remove it from the list",
            )
        if name not in header:
            close = suggest(name, list(header))
            raise NetdslDataError(
                f"{path}: no column `{name}` in the header",
                _key_span(args, name),
                label="no such column",
                help=f"did you mean `{close}`?"
                if close
                else "the columns are " + ", ".join(f"`{h}`" for h in header),
            )


def number_fault(value: str) -> str | None:
    """What keeps a cell from being a feature number ("not a number", "not a finite number");
    None when it is one."""
    number = parse_number(value)
    if number is None:
        return "not a number"
    return None if math.isfinite(number) else "not a finite number"


def count_problem(
    path: Path, n: int, text: str, cells: Sequence[tuple[str, int]], header: Sequence[str]
) -> NetdslDataError | None:
    """A row whose cell count is not the header's, as an error at its extra cells or its end;
    None when the counts agree (shared by typed and untyped tables)."""
    if len(cells) == len(header):
        return None
    many = len(cells) > len(header)
    col = cells[len(header)][1] if many else len(text)
    return cell_error(
        path,
        n,
        text,
        col,
        1 if not many else len(text) - col,
        f"row has {len(cells)} cells but the header names {len(header)} columns",
        "extra cells" if many else f"missing `{header[len(cells)]}`",
    )


def row_problem(
    path: Path,
    n: int,
    text: str,
    header: Sequence[str],
    columns: Sequence[Column],
    delimiter: str,
) -> NetdslDataError | None:
    """What is wrong with one data row of a typed table (cell count, a cell its column's type
    cannot hold), as an error at its line and column; None when it is well formed."""
    cells = split_row(text, delimiter)
    problem = count_problem(path, n, text, cells, header)
    if problem is not None:
        return problem
    for column in columns:
        if column.type != "number":
            continue
        value, col = cells[column.index]
        if is_missing(value):
            continue
        what = number_fault(value)
        if what is not None:
            return cell_error(
                path,
                n,
                text,
                col,
                len(value),
                f"`{value}` in column `{column.name}` is {what}, and the column holds numbers"
                + ("" if column.overridden else " (its type, from the first rows)"),
                what,
                help=f'list it as another type: `category=["{column.name}"]` or '
                f'`text=["{column.name}"]`',
            )
    return None


def _sample(
    path: Path, header: Sequence[str], delimiter: str, limit: int
) -> Iterator[tuple[int, str, list[tuple[str, int]]]]:
    """The sample's data rows (about ``limit`` characters), split, each checked for its cell
    count."""
    for n, text in read_lines(path, limit):
        if n == 1 or not text.strip():
            continue
        cells = split_row(text, delimiter)
        if len(cells) != len(header):
            problem = row_problem(path, n, text, header, (), delimiter)
            assert problem is not None
            raise problem
        yield n, text, cells


def columns_of(
    path: Path,
    header: Sequence[str],
    labels: Sequence[int],
    delimiter: str,
    args: Mapping[str, Any],
    sample: int,
) -> tuple[Column, ...]:
    """Every feature column's type and encoder, from the sample and the overrides; ``()`` for a
    table of numbers alone without a missing cell in the sample and without overrides (read on
    the plain numeric path)."""
    overrides = overrides_of(args)
    _check_overrides(path, header, labels, overrides, args)
    features = [i for i in range(len(header)) if i not in labels]
    cells: dict[int, list[str]] = {i: [] for i in features}
    missing = dict.fromkeys(features, 0)
    rows: list[tuple[int, str, list[tuple[str, int]]]] = []
    try:
        for n, text, row in _sample(path, header, delimiter, sample):
            rows.append((n, text, row))
            for i in features:
                value = row[i][0]
                if is_missing(value):
                    missing[i] += 1
                else:
                    cells[i].append(value)
    except UnicodeDecodeError:
        raise utf8_fault(path) from None
    if not rows:
        return ()
    columns = []
    for i in features:
        name = header[i]
        type_ = overrides.get(name) or _inferred(path, name, cells[i], len(rows))
        if name not in overrides and type_ != "number":
            _mostly_numbers(path, name, i, cells[i], rows)
        if type_ == "ignore":
            continue
        columns.append(make_column(name, i, type_, cells[i], missing[i], name in overrides))
        _fits(path, columns[-1], cells[i], rows, header, delimiter)
    if not columns:
        raise NetdslDataError(f"{path}: every feature column is ignored", help="keep one")
    plain = all(c.type == "number" and not c.missing for c in columns)
    several = len(set(labels)) > 1  # several targets: read typed (a graph's data)
    return () if plain and not overrides and not several else tuple(columns)


def _inferred(path: Path, name: str, cells: list[str], rows: int) -> str:
    if not cells:
        raise NetdslDataError(
            f"{path}: column `{name}` is empty in all {rows:,} rows read by `check` (the "
            "first rows), so its type cannot be told",
            help=f'drop it with `ignore=["{name}"]`, or give its type, e.g. `number=["{name}"]`',
        )
    return infer_type(cells, lambda c: parse_number(c) is not None)


def _mostly_numbers(
    path: Path, name: str, index: int, cells: list[str], rows: list[tuple[int, str, list[Any]]]
) -> None:
    """A column whose first rows are at least half numbers, but not all, is refused at its
    first other cell (a typo, or a spelling of "missing" netdsl does not know), unless the
    program gives its type."""
    numbers = sum(parse_number(c) is not None for c in cells)
    if not numbers or 2 * numbers < len(cells):
        return
    for n, text, row in rows:
        value, col = row[index]
        if not is_missing(value) and parse_number(value) is None:
            what = "not a number"
            raise cell_error(
                path,
                n,
                text,
                col,
                len(value),
                f"`{value}` in column `{name}` is {what}, and {numbers:,} of the "
                f"{len(cells):,} cells of its first rows are numbers",
                what,
                help=f'fix the cell, or give the column\'s type: `category=["{name}"]`',
            )


def _finite(cell: str) -> bool:
    number = parse_number(cell)
    return number is not None and math.isfinite(number)


def _fits(
    path: Path,
    column: Column,
    cells: list[str],
    rows: list[tuple[int, str, list[Any]]],
    header: Sequence[str],
    delimiter: str,
) -> None:
    """An overridden type must hold the sample's values: numbers for ``number``, at most two
    values for ``binary``."""
    if column.type == "number":  # the row is split already: only a bad one is split again
        for n, text, row in rows:
            if is_missing(row[column.index][0]) or _finite(row[column.index][0]):
                continue
            problem = row_problem(path, n, text, header, (column,), delimiter)
            if problem is not None:
                raise problem
    if column.type == "binary" and column.distinct > 2:
        raise NetdslDataError(
            f"{path}: column `{column.name}` is listed as binary but holds {column.distinct} "
            f"values in the first rows: {', '.join(sorted(set(cells))[:5])}",
            help=f'list it as a category: `category=["{column.name}"]`',
        )


def utf8_fault(path: Path) -> NetdslDataError:
    """The first line of ``path`` that is not UTF-8, as an error at its line and column."""
    with open(path, "rb") as f:  # a line at most the reader's cap at a time: memory bounded
        for n, raw in enumerate(iter(lambda: f.readline(MAX_LINE_CHARS + 1), b""), 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                good = raw[: exc.start].decode("utf-8")
                shown = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                return cell_error(
                    path,
                    n,
                    shown,
                    len(good),
                    1,
                    f"not UTF-8 text ({exc.reason}, byte 0x{raw[exc.start]:02x})",
                    "not UTF-8",
                    help="save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                )
    return NetdslDataError(f"{path}: not UTF-8 text")


# --- training: one streamed pass ----------------------------------------------------------------


@dataclass
class Learned:
    """What the pass over the training rows accumulates, column by column (bounded memory)."""

    columns: tuple[Column, ...]
    sums: dict[str, list[float]]  # number: [count, sum, sum of squares]
    counts: dict[str, Counter[bytes]]  # lookups and text: value or word counts

    @classmethod
    def of(cls, columns: tuple[Column, ...]) -> Learned:
        return cls(
            columns,
            {c.name: [0.0, 0.0, 0.0] for c in columns if c.encoder == "normalize"},
            {c.name: Counter() for c in columns if c.encoder in ("one_hot", "embed", "text")},
        )

    def summarise(self, x: Mapping[str, Any], keep: Any) -> dict[str, Any]:
        """One chunk's training rows (``keep``) summarised in TensorFlow ops (so inside a
        ``tf.data`` map, in parallel): a number column's count, sum and sum of squares; a
        lookup's values and a text column's words with their counts; every string checked as
        UTF-8 (a bad one raises, and is then found at its line)."""
        import tensorflow as tf

        out: dict[str, Any] = {}
        for column in self.columns:
            values = tf.boolean_mask(tf.reshape(x[column.name], [-1]), keep)
            if column.type != "number":  # raises on bad UTF-8
                tf.strings.unicode_transcode(values, "UTF-8", "UTF-8", errors="strict")
            if column.encoder == "hash":
                continue
            if column.encoder == "normalize":
                v = tf.cast(tf.boolean_mask(values, ~tf.math.is_nan(values)), tf.float64)
                out[column.name] = tf.stack(
                    [tf.cast(tf.size(v), tf.float64), tf.reduce_sum(v), tf.reduce_sum(v * v)]
                )
                continue
            if column.encoder == "text":
                values = tf.strings.split(
                    tf.strings.regex_replace(tf.strings.lower(values), STRIP_PUNCTUATION, "")
                ).flat_values
            uniq, _, counts = tf.unique_with_counts(values)
            out[column.name] = (uniq, counts)
        return out

    def merge(self, summary: Mapping[str, Any]) -> None:
        """Add one chunk's :meth:`summarise` (eager tensors) to the running totals; counts past
        :data:`PRUNE_FACTOR` times a lookup's size are pruned to the most frequent."""
        for column in self.columns:
            if column.name not in summary:
                continue
            if column.encoder == "normalize":
                n, total, squares = (float(v) for v in summary[column.name].numpy())
                s = self.sums[column.name]
                s[0], s[1], s[2] = s[0] + n, s[1] + total, s[2] + squares
                continue
            uniq, n = summary[column.name]
            counts = self.counts[column.name]
            counts.update(dict(zip(uniq.numpy().tolist(), n.numpy().tolist())))
            limit = PRUNE_FACTOR * column.tokens
            if len(counts) > limit:  # keep the most frequent: bounded, approximately the top
                self.counts[column.name] = Counter(dict(counts.most_common(limit // 2)))

    def add(self, x: Mapping[str, Any], keep: np.ndarray) -> None:
        """One batch's rows (``keep``), summarised eagerly and merged."""
        self.merge(self.summarise(x, keep))

    def state(self) -> dict[str, dict[str, Any]]:
        """What :func:`netdsl.keras.features.adapt` sets on each column's layers."""
        out: dict[str, dict[str, Any]] = {}
        for name, (n, total, squares) in self.sums.items():
            mean = total / n if n else 0.0
            variance = max(squares / n - mean * mean, 0.0) if n else 1.0
            out[name] = {"mean": mean, "variance": variance, "count": int(n)}
        for name, counts in self.counts.items():
            words = [w.decode("utf-8", "replace") for w, _ in _ranked(counts)]
            out[name] = {"vocabulary": [w for w in words if w != "[UNK]"]}
        return out


def _ranked(counts: Counter[bytes]) -> list[tuple[bytes, int]]:
    """Most frequent first; ties by value, so the vocabulary is the same on every run."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def missing_constant() -> Any:
    """The missing spellings as a string tensor, for the pipeline's test."""
    import tensorflow as tf

    return tf.constant(sorted(MISSING))
