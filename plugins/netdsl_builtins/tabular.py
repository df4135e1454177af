"""The user's own tables and arrays: ``csv("table.csv", label="species")`` and ``npz("data.npz")``.

``csv``: a header row, feature columns and one label column. A table of numbers alone is read
here as a float32 matrix; one with other columns (categories, text) or missing cells is a typed
table (:mod:`netdsl_builtins.typed_csv`, :mod:`netdsl_builtins.typed_streams`). The label
may hold names (classes, the name -> id mapping saved in the run folder), integers (classes, or a binary
target when they are only 0 and 1; so many distinct ones that most classes would have one or two
rows: a regression target, with a note) or numbers written as reals (a regression target). Lines,
cells and numbers are read by :mod:`netdsl.keras.datafiles` as TensorFlow reads them in training
(LF or CRLF line ends, ASCII decimal numbers), each line capped. ``netdsl check`` reads
the header and the first :data:`SAMPLE_BYTES` of rows (to learn the label's kind and classes;
a file of at most :data:`LABEL_SCAN_BYTES` whole, also counting the rows each side of the split);
training reads the file through ``tf.data`` (:class:`~netdsl.vocab.components.Streams`): held in
memory after one checking pass when its rows fit in :data:`CACHE_BYTES`, else written by that
pass, decoded, to a temporary binary file (``spill=true``, the default) read one window at a time
each epoch — or, without it or when the file cannot be written, decoded from the text each epoch —
so memory does not grow with the file past that budget. A bad cell (not a number, missing), a short or long row, or an
unknown label column is a :class:`~netdsl.errors.NetdslDataError` at the CSV's own
file:line:column, drawn with that line.

``npz``: arrays ``x_train, y_train, x_test, y_test``, or ``x, y`` split by ``test_split``, read
by the size-bounded :class:`~netdsl.keras.datafiles.Npz` (headers first, never unpickled).
``describe`` reads the arrays' headers and the labels, a block at a time; ``(N, H, W)`` uint8 is
grey pictures of ``H x W x 1``, scaled to [0, 1] as the image datasets give them.

The test split of ``x, y`` arrays and of CSV rows is seeded (``seed``) and recorded in the run
folder's ``data.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import (
    Member,
    Npz,
    is_integer_text,
    parse_number,
    read_lines,
    regular_file,
    scale_pixels,
    scan_lines,
    split_row,
)
from netdsl.vocab import types as T
from netdsl.vocab.columns import TYPES, Column
from netdsl.vocab.components import (
    DataInfo,
    DataRequest,
    Dataset,
    Param,
    Streams,
    Target,
    TargetInfo,
)
from netdsl.vocab.registry import suggest

from .chunked_csv import ChunkedCsv, WindowShuffle, held_epoch
from .dataset_emit import emit_csv, emit_npz
from .typed_csv import cell_error as _cell_error
from .typed_csv import columns_of, count_problem, number_fault, row_problem, utf8_fault

if TYPE_CHECKING:  # pragma: no cover - NumPy/TensorFlow load with the data, not with `check`
    import numpy as np

    from .spill import Spill

__all__ = [
    "CACHE_BYTES",
    "CHUNK_ROWS",
    "CSV",
    "LABEL_SCAN_BYTES",
    "NPZ",
    "SAMPLE_BYTES",
    "SPILL_READ_AHEAD",
    "WINDOW_BYTES",
    "WINDOW_CHUNKS",
    "CsvLayout",
    "csv_streams",
    "read_layout",
    "split_row",
    "window_rows",
]

#: how much of a CSV ``check`` reads after the header to learn the label's kind and classes
#: 8 KB: about 200 rows of a narrow table, checked in about 1 ms (64 KB took ~30-90 ms, which
#: was most of `check`'s data time); a 150-row table such as iris is read whole
SAMPLE_BYTES = 8 << 10
#: a CSV up to this size has its label column read whole by ``check`` (the other cells only in
#: the first :data:`SAMPLE_BYTES`), so a small file sorted by class still shows every class:
#: about 25,000 rows, 10-30 ms
LABEL_SCAN_BYTES = 1 << 20
#: lines per ``tf.data`` chunk: the unit of decoding and of the seeded test split
CHUNK_ROWS = 4096
#: the training rows are kept in memory after the checking pass (features float32, label 4 bytes)
#: when they take at most this many bytes: 32 MiB is 1.6 million rows of 4 features (a CSV of
#: about 70 MB). Past it they are spilled, decoded, to a temporary file read a window at a time
#: each epoch (:mod:`netdsl_builtins.spill`), so peak memory (which briefly holds twice this while
#: the rows are joined) stays flat past it: small next to TensorFlow's ~700 MB.
CACHE_BYTES = 32 << 20
#: the most bytes of decoded training rows shuffled together (one window; memory stays bounded)
WINDOW_BYTES = 16 << 20
#: chunks of one shuffling window at most (32,768 rows): the rows mixed within an epoch
WINDOW_CHUNKS = 8
#: windows of a spill file read (and permuted) ahead of training at once: a fixed few, so only
#: about this many windows are resident whatever the number of cores (reading one takes ~1 ms)
SPILL_READ_AHEAD = 2
_TASKS = ("auto", "classes", "binary", "regression")
#: under task=auto, a label column of whole numbers with at least this many distinct values, more
#: than half of them on one or two rows, is a regression target (a score, a count, a price): as
#: classes most would have one or two examples
MANY_CLASSES = 20


def _kb() -> int:
    return SAMPLE_BYTES >> 10


def _path(request: DataRequest, what: str) -> Path:
    if not request.path:
        raise NetdslDataError(
            f'`{request.name}` needs a {what}: `dataset: {request.name}("PATH")` '
            "or `netdsl run --data PATH`"
        )
    path = Path(request.path).expanduser()
    return regular_file(path, f"a {what}", help=f"`{request.name}` reads a {what}")


# --- CSV ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvLayout:
    """What the header and the first rows of a CSV say: columns, the label column, the target."""

    path: Path
    header: tuple[str, ...]
    label: int
    delimiter: str
    target: Target
    class_names: tuple[str, ...]  # for a label column of names: sorted, the id is the position
    label_kind: str  # "names", "ints" or "reals"
    rows_sampled: int
    whole_file: bool  # the sample was the whole file
    note: str = ""  # how task=auto read an ambiguous label column, and how to ask otherwise
    #: typed feature columns (:mod:`netdsl_builtins.typed_csv`); () for a plain numeric table
    columns: tuple[Column, ...] = ()
    #: the other label columns of ``label=["a", "b"]`` (a typed table's), one layout each
    more: tuple[CsvLayout, ...] = ()

    @property
    def features(self) -> tuple[int, ...]:
        labels = {self.label, *(m.label for m in self.more)}
        return tuple(i for i in range(len(self.header)) if i not in labels)


def _lines(path: Path, limit: int | None) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of the file, up to about ``limit`` characters (whole lines only):
    the bounded reader's lines (split on LF only, as training splits them; none over its cap)."""
    return read_lines(path, limit)


def _header(path: Path, delimiter: str) -> tuple[str, list[tuple[str, int]]]:
    try:
        first = next((text for _, text in read_lines(path, 0)), "")
    except UnicodeDecodeError:
        raise utf8_fault(path) from None
    except OSError as exc:
        raise NetdslDataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    cells = split_row(first, delimiter)
    if not first.strip() or len(cells) < 2:
        raise _cell_error(
            path,
            1,
            first,
            0,
            len(first),
            "a CSV for netdsl starts with a header row "
            "naming at least two columns (features and a label)",
            "expected a header",
            help="add a first line such as `sepal_length,sepal_width,species`",
        )
    seen: set[str] = set()  # one look-up per column: a header of 100,000 columns is linear
    for i, (name, col) in enumerate(cells):
        if not name:
            raise _cell_error(
                path,
                1,
                first,
                col,
                1,
                f"column {i + 1} of the header has no name",
                "empty column name",
            )
        if name in seen:
            raise _cell_error(
                path,
                1,
                first,
                col,
                len(name),
                f"column `{name}` is named twice",
                "second column of this name",
            )
        seen.add(name)
    return first, cells


def _number(text: str) -> float | None:
    """The cell as training reads it (:func:`~netdsl.keras.datafiles.parse_number`), or None."""
    return parse_number(text)


def _finite(text: str) -> bool:
    number = _number(text)
    return number is not None and math.isfinite(number)


def _label_cell_of(
    path: Path,
    n: int,
    text: str,
    cells: Sequence[tuple[str, int]],
    label: int,
    header: Sequence[str],
) -> tuple[str, int]:
    """The label cell of a row and its column; an error at it when it is empty."""
    value, col = cells[label]
    if not value:
        raise _cell_error(
            path, n, text, col, 1, f"missing value in label column `{header[label]}`", "empty label"
        )
    return value, col


def check_row(
    path: Path,
    n: int,
    text: str,
    layout_header: Sequence[str],
    label: int,
    delimiter: str,
    columns: Sequence[Column] = (),
) -> tuple[str, int]:
    """One data row checked: as many cells as the header, every feature a finite number (of a
    typed table, ``columns``: every cell one its column's type holds). Returns the label cell
    and its column."""
    if columns:
        problem = row_problem(path, n, text, layout_header, columns, delimiter)
        if problem is not None:
            raise problem
        return _label_cell_of(path, n, text, split_row(text, delimiter), label, layout_header)
    cells = split_row(text, delimiter)
    problem = count_problem(path, n, text, cells, layout_header)
    if problem is not None:
        raise problem
    for i, (value, col) in enumerate(cells):
        if i == label:
            _label_cell_of(path, n, text, cells, label, layout_header)
            continue
        if not value:
            raise _cell_error(
                path,
                n,
                text,
                col,
                1,
                f"missing value in column `{layout_header[i]}`",
                "empty cell",
                help="fill it in or drop the row; netdsl does not guess values",
            )
        what = number_fault(value)
        if what is not None:
            raise _cell_error(
                path,
                n,
                text,
                col,
                len(value),
                f"`{value}` in column `{layout_header[i]}` is {what}; feature columns "
                "must be numeric",
                what,
                help="encode it as numbers, or make this column the label",
            )
    return cells[label]


def _label_cell(text: str, delimiter: str, label: int, columns: int) -> tuple[str, int] | None:
    """The label cell of a row and its column, cheaply; None for a row that is not well formed."""
    cells = split_row(text, delimiter) if '"' in text else None
    if cells is None:
        plain = text.split(delimiter)
        if len(plain) != columns or not plain[label]:
            return None
        value = plain[label]
        col = (
            len(text) - len(value)
            if label == columns - 1
            else sum(map(len, plain[:label])) + label * len(delimiter)
        )
        return value, col
    return cells[label] if len(cells) == columns and cells[label][0] else None


def read_layout(request: DataRequest) -> CsvLayout:
    """The header and the first :data:`SAMPLE_BYTES` of rows, checked; the label's kind and
    classes (from the whole label column when the file is at most :data:`LABEL_SCAN_BYTES`)."""
    a = request.args
    path = _path(request, "CSV file with a header row")
    delimiter = a.get("delimiter", ",")
    first, cells = _header(path, delimiter)
    header = tuple(name for name, _ in cells)
    wants = _label_names(a.get("label"))
    twice = next((w for i, w in enumerate(wants) if w in wants[:i]), None)
    if twice is not None:
        raise NetdslDataError(
            f"`{twice}` is given twice in `label`", help="name each label column once"
        )
    indices = [_label_index(path, first, header, w) for w in wants] or [len(header) - 1]
    label = indices[0]
    columns = columns_of(path, header, indices, delimiter, a, SAMPLE_BYTES)
    layout = _first_label(request, path, header, label, delimiter, columns)
    more = tuple(_other_label(layout, i, a.get("task", "auto")) for i in indices[1:])
    return dataclasses.replace(layout, more=more) if more else layout


def _label_names(given: Any) -> list[str]:
    """``label="y"`` or ``label=["a", "b"]`` as a list of names (empty: the last column)."""
    if given is None:
        return []
    return [given] if isinstance(given, str) else list(given)


def _label_index(path: Path, first: str, header: tuple[str, ...], want: str) -> int:
    """The header position of the label column ``want``; did-you-mean when there is none."""
    if want in header:
        return header.index(want)
    close = suggest(want, header)
    raise _cell_error(
        path,
        1,
        first,
        0,
        len(first),
        f"no column `{want}` in the header of {path.name}",
        "the header",
        help=(
            f"did you mean `{close}`?"
            if close
            else f"the columns are {', '.join(f'`{h}`' for h in header)}"
        ),
    )


def _first_label(
    request: DataRequest,
    path: Path,
    header: tuple[str, ...],
    label: int,
    delimiter: str,
    columns: tuple[Column, ...],
) -> CsvLayout:
    """The layout read for the (first) label column: every sampled row checked."""
    a = request.args
    labels: list[tuple[str, int, int, str]] = []  # value, line, col, text
    size = path.stat().st_size
    whole = size <= LABEL_SCAN_BYTES
    read = 0
    try:
        for n, text in _lines(path, None if whole else SAMPLE_BYTES):
            read += len(text) + 1
            if n == 1 or not text.strip():
                continue
            if read <= SAMPLE_BYTES or len(labels) < 2:  # the sample: every cell checked
                value, col = check_row(path, n, text, header, label, delimiter, columns)
                labels.append((value, n, col, text))
            else:  # past it, in a small file: the label only (a bad row is found when the data loads)
                cell = _label_cell(text, delimiter, label, len(header))
                if cell is not None:
                    labels.append((cell[0], n, cell[1], text))
    except UnicodeDecodeError:
        raise utf8_fault(path) from None
    if not labels:
        raise NetdslDataError(f"{path}: the header is followed by no rows", help="add data rows")
    layout = _target(path, header, label, delimiter, labels, a.get("task", "auto"), whole)
    return dataclasses.replace(layout, columns=columns) if columns else layout


def _other_label(layout: CsvLayout, label: int, task: str) -> CsvLayout:
    """Another label column's layout: its cells over the rows the first label read."""
    limit = None if layout.whole_file else SAMPLE_BYTES
    cells: list[tuple[str, int, int, str]] = []
    for n, text in _lines(layout.path, limit):
        if n == 1 or not text.strip():
            continue
        value, col = check_row(
            layout.path, n, text, layout.header, label, layout.delimiter, layout.columns
        )
        cells.append((value, n, col, text))
    found = _target(
        layout.path, layout.header, label, layout.delimiter, cells, task, layout.whole_file
    )
    return dataclasses.replace(found, columns=layout.columns)


def _target(
    path: Path,
    header: tuple[str, ...],
    label: int,
    delimiter: str,
    labels: list[tuple[str, int, int, str]],
    task: str,
    whole: bool,
) -> CsvLayout:
    # labels that are names show it on the first row: don't try to read thousands as numbers
    # each distinct text parsed once: a label column of classes repeats a few texts many times
    parsed = (
        {text: _number(text) for text in {t[0] for t in labels}}
        if _number(labels[0][0]) is not None
        else {}
    )
    numbers = [parsed[t[0]] for t in labels] if parsed else []
    name = header[label]
    names: tuple[str, ...] = ()
    note = ""
    if numbers and all(x is not None and math.isfinite(x) for x in numbers):
        values = [float(x) for x in numbers if x is not None]
        integral = all(x.is_integer() for x in values)
        why = _regression_reason(name, labels, values, whole) if task == "auto" else None
        if task == "regression" or why is not None:
            target, kind = Target("regression", shape=(1,)), "reals"
            note = why if integral and why else ""
        else:
            if not integral:
                v, n, col, text = next(t for t, x in zip(labels, values) if not x.is_integer())
                raise _cell_error(
                    path,
                    n,
                    text,
                    col,
                    len(v),
                    f"label `{v}` is not a class id (task={task} needs whole numbers 0, 1, 2, ...)",
                    "not a class id",
                    help="use task=regression for real-valued targets",
                )
            low = min(values)
            if low < 0:
                v, n, col, text = next(t for t, x in zip(labels, values) if x < 0)
                raise _cell_error(
                    path,
                    n,
                    text,
                    col,
                    len(v),
                    f"class id `{v}` is negative",
                    "negative class id",
                    help="class ids run 0, 1, 2, ...",
                )
            top = int(max(values))
            binary = task == "binary" or (task == "auto" and top <= 1)
            if binary and top > 1:
                v, n, col, text = next(t for t, x in zip(labels, values) if x > 1)
                raise _cell_error(
                    path,
                    n,
                    text,
                    col,
                    len(v),
                    f"label `{v}`: a binary target is 0 or 1",
                    "not 0 or 1",
                )
            target = Target("binary") if binary else Target("classes", max(top + 1, 2))
            kind = "ints"
    else:
        if task == "regression":
            v, n, col, text = next(t for t in labels if not _finite(t[0]))
            raise _cell_error(
                path,
                n,
                text,
                col,
                len(v),
                f"label `{v}` is not a number, and task=regression needs numbers",
                "not a number",
            )
        names = tuple(sorted({t[0] for t in labels}))
        if len(names) < 2:
            raise NetdslDataError(
                f"{path}: label column `{name}` holds only `{names[0]}`"
                + ("" if whole else f" in its first {_kb()} KB"),
                help="a classifier needs at least two classes",
            )
        if task == "binary" and len(names) != 2:
            raise NetdslDataError(
                f"{path}: task=binary needs two label names, `{name}` has "
                f"{len(names)}: {', '.join(names[:5])}"
            )
        target = Target("binary") if task == "binary" else Target("classes", len(names))
        kind = "names"
    return CsvLayout(path, header, label, delimiter, target, names, kind, len(labels), whole, note)


def _regression_reason(
    name: str, labels: list[tuple[str, int, int, str]], values: list[float], whole: bool
) -> str | None:
    """Why a numeric label column is a regression target under ``task=auto``, or None (classes):
    a value written as a real number (``151.0``), or, when the whole column was read, so many
    distinct whole numbers that most would be classes of one or two rows."""
    real = next(
        (text for text in dict.fromkeys(t[0] for t in labels) if not is_integer_text(text)), None
    )
    if real is not None:
        return (
            f"label `{name}` is written as real numbers (`{real}`), so it is a regression "
            "target; give task=classes (or task=binary) if they are class ids"
        )
    counts = Counter(values)
    rare = sum(1 for c in counts.values() if c <= 2)
    if not whole or len(counts) < MANY_CLASSES or 2 * rare <= len(counts):
        return None
    return (
        f"label `{name}` holds {len(counts):,} distinct whole numbers on {len(values):,} rows, "
        f"{rare:,} of them on one or two rows: read as a regression target, not "
        f"{len(counts):,} classes; give task=classes to train a classifier of them"
    )


def describe_csv(request: DataRequest) -> DataInfo:
    """The header and first rows: feature count, the label's kind and classes; for a file of at
    most :data:`LABEL_SCAN_BYTES`, read whole, the rows each side of the test split too."""
    layout = read_layout(request)
    if layout.note:
        warnings.warn(f"netdsl: {layout.path.name}: {layout.note}", UserWarning, stacklevel=2)
    train = test = None
    if layout.whole_file:
        train, test = split_counts(
            layout.path, int(request.args["seed"]), float(request.args["test_split"])
        )
        _split_leaves_rows(layout.path, train, test)
    width = sum(c.width for c in layout.columns) if layout.columns else len(layout.features)
    targets = tuple(
        TargetInfo(one.header[one.label], one.target, one.class_names)
        for one in ((layout, *layout.more) if layout.more else ())
    )
    return DataInfo(
        (width,),
        layout.target,
        train_size=train,
        test_size=test,
        class_names=layout.class_names,
        streamed=True,
        columns=layout.columns,
        targets=targets,
    )


def split_counts(path: Path, seed: int, test_split: float) -> tuple[int, int]:
    """``(training, test)`` rows as :func:`csv_streams` splits them: each chunk of
    :data:`CHUNK_ROWS` lines after the header, blank lines left out, drawn by TensorFlow's
    seeded draw (replayed by :mod:`netdsl_builtins.draws`, without it). Reads the whole file:
    for small ones only; remembered by the file's size and time, for the language server."""
    stat = path.stat()
    return _split_counts(str(path), stat.st_size, stat.st_mtime_ns, seed, test_split, CHUNK_ROWS)


@functools.lru_cache(maxsize=32)
def _split_counts(
    path: str, size: int, mtime: int, seed: int, test_split: float, chunk_rows: int
) -> tuple[int, int]:
    from .draws import below

    lines = Path(path).read_bytes().split(b"\n")
    if lines[-1] == b"":  # the last line's end, not an empty line (as TextLineDataset reads)
        lines.pop()
    rows = lines[1:]
    train = test = 0
    for chunk, start in enumerate(range(0, len(rows), chunk_rows)):
        n = sum(1 for line in rows[start : start + chunk_rows] if line.strip())
        held = below(n, (seed, chunk), test_split)
        train, test = train + n - held, test + held
    return train, test


def _split_leaves_rows(path: Path, train: int, test: int) -> None:
    """Both sides of the test split need a row (training refuses an empty one)."""
    if train == 0 or test == 0:
        raise NetdslDataError(
            f"{path}: the split leaves {train} training and {test} test rows",
            help="the file needs more rows, or another test_split",
        )


def _locate(layout: CsvLayout, bad: Callable[[str], bool] | None = None) -> None:
    """Scan the file in Python for the first bad row (a cell that is no number, a missing value,
    a wrong cell count, or a label ``bad`` says is unknown) and raise its error at file:line:col."""
    try:
        _scan(layout, bad)
    except UnicodeDecodeError:
        raise utf8_fault(layout.path) from None


def _scan(layout: CsvLayout, bad: Callable[[str], bool] | None) -> None:
    for n, text in _lines(layout.path, None):
        if n == 1 or not text.strip():
            continue
        value, col = check_row(
            layout.path, n, text, layout.header, layout.label, layout.delimiter, layout.columns
        )
        if bad is not None and bad(value):
            known = (
                ", ".join(f"`{c}`" for c in layout.class_names[:8])
                if layout.class_names
                else f"0..{layout.target.num_classes - 1}"
            )
            raise _cell_error(
                layout.path,
                n,
                text,
                col,
                len(value),
                f"label `{value}` is not one of the classes found in the first "
                f"{_kb()} KB of the file ({known})",
                "unknown class",
                help="put a row of every class near the top of the file (e.g. shuffle it)",
            )


@dataclass(frozen=True, eq=False)
class _CsvChunks(ChunkedCsv):
    """The CSV read in whole chunks of :data:`CHUNK_ROWS` lines (C++ decoding, no per-row op),
    each row's train/test side drawn statelessly from (``seed``, chunk): the same split on
    every read of the file."""

    layout: CsvLayout
    defaults: list[Any]  # one empty tensor per column: its type for decode_csv
    table: Any  # class name -> id for a label column of names, else None
    seed: int
    test_split: float
    y_type: Any

    @property
    def chunk_rows(self) -> int:  # type: ignore[override]
        """:data:`CHUNK_ROWS`, read when the file is chunked (tests shrink it)."""
        return CHUNK_ROWS

    def decode(self, index: Any, lines: Any) -> tuple[Any, Any, Any]:
        """One chunk's ``(x, y, is_test)``, its blank lines dropped."""
        import tensorflow as tf

        layout, features = self.layout, list(self.layout.features)
        lines = tf.strings.regex_replace(lines, "\r$", "")
        lines = tf.boolean_mask(lines, tf.strings.length(tf.strings.strip(lines)) > 0)
        cols = tf.io.decode_csv(lines, self.defaults, field_delim=layout.delimiter)
        x = tf.reshape(tf.stack([cols[i] for i in features], axis=1), [-1, len(features)])
        y = cols[layout.label]
        y = self.table.lookup(tf.strings.strip(y)) if self.table is not None else y
        draw = tf.random.stateless_uniform(
            tf.shape(lines), seed=tf.stack([tf.cast(self.seed, tf.int64), index])
        )
        return x, y, draw < self.test_split


def _csv_chunks(layout: CsvLayout, seed: int, test_split: float) -> _CsvChunks:
    """The chunk reader of ``layout``: column types for decode_csv (the label a string when it
    holds class names, looked up in a table of them), float32 everywhere else."""
    import tensorflow as tf

    string_label = layout.label_kind == "names"
    defaults = [
        tf.constant([], tf.string)
        if (i == layout.label and string_label)
        else tf.constant([], tf.float32)
        for i in range(len(layout.header))
    ]
    table = None
    if string_label:
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(layout.class_names), tf.range(len(layout.class_names), dtype=tf.int64)
            ),
            -1,
        )
    y_type = tf.int32 if layout.target.kind == "classes" else tf.float32
    return _CsvChunks(layout, defaults, table, seed, test_split, y_type)


@dataclass(frozen=True, eq=False)
class _SpillWindows:
    """Windows of the spill file read into the pipeline. TensorFlow keeps the functions of
    ``numpy_function`` alive with its graphs: this reader holds the spill only weakly (the
    Streams, through its training pipeline, strongly), so releasing the data removes it."""

    spill: weakref.ref[Spill]
    window: int
    train_size: int
    features: int
    y_type: Any

    def read(self, index: Any) -> tuple[Any, Any]:
        """Window ``index``'s rows, read from the file (NumPy, outside the graph)."""
        source = self.spill()
        if source is None:
            raise RuntimeError("the spill file of this CSV was released while its rows were read")
        start = int(index) * self.window
        return source.read(start, min(self.window, self.train_size - start))

    def load(self, index: Any) -> tuple[Any, tuple[Any, Any]]:
        """``(index, (x, y))`` of window ``index``, shaped for the graph."""
        import tensorflow as tf

        x, y = tf.numpy_function(self.read, [index], (tf.float32, self.y_type), stateful=False)
        return index, (tf.ensure_shape(x, [None, self.features]), tf.ensure_shape(y, [None, 1]))


@dataclass(frozen=True, eq=False)
class _CsvPipelines:
    """The ``train``/``test`` pipelines of :class:`Streams` over the CSV: the training rows from
    ``memory``, else the ``spill`` file's windows, else the text decoded again."""

    chunks: _CsvChunks
    train_size: int
    window: int
    memory: tuple[Any, Any] | None
    spill: Spill | None  # held strongly here: the file lives as long as these pipelines
    windows: _SpillWindows | None

    def train(self, batch_size: int, shuffle_seed: Any) -> Any:
        """One epoch of training batches, in an order seeded by ``shuffle_seed``."""
        import tensorflow as tf

        epoch_seed = tf.cast(0 if shuffle_seed is None else shuffle_seed, tf.int64)
        if self.memory is not None:
            return held_epoch(self.memory, self.train_size, batch_size, epoch_seed)
        shuffle = WindowShuffle(epoch_seed)
        if self.windows is not None:
            return self._from_spill(batch_size, epoch_seed, shuffle, self.windows)
        return self.chunks.shuffled_windows(self.window, batch_size, shuffle)

    def _from_spill(
        self, batch_size: int, epoch_seed: Any, shuffle: WindowShuffle, windows: _SpillWindows
    ) -> Any:
        """The windows of the spill file, visited in an order seeded by the epoch."""
        import tensorflow as tf

        n_windows = -(-self.train_size // self.window)
        visit = tf.argsort(
            tf.random.stateless_uniform([n_windows], seed=tf.stack([epoch_seed, -1]))
        )
        loaded = tf.data.Dataset.from_tensor_slices(tf.cast(visit, tf.int64)).map(
            windows.load, num_parallel_calls=SPILL_READ_AHEAD, deterministic=True
        )
        return loaded.map(
            shuffle.permute, num_parallel_calls=SPILL_READ_AHEAD, deterministic=True
        ).rebatch(batch_size)

    def test(self, batch_size: int) -> Any:
        """The test rows in file order."""
        return self.chunks.part(True).rebatch(batch_size)


def _csv_order(window: int, spilled: bool, held: bool) -> str:
    """``data.json``'s account of the training order, by where the rows are kept."""
    if spilled:
        return (
            f"each epoch, the windows of {window:,} training rows of the spill file are visited in an "
            "order seeded by the epoch's seed, and the rows of each window permuted by a draw seeded by "
            "(the epoch's seed, window)"
        )
    if held:
        return "each epoch, a permutation of all training rows seeded by the epoch's seed"
    return (
        f"each epoch, the training rows of each window of {window:,} in the file are "
        "permuted by a draw seeded by (the epoch's seed, window)"
    )


def _csv_record(layout: CsvLayout, found: _Pass, chunks: _CsvChunks, window: int) -> dict[str, Any]:
    """What ``data.json`` says of the CSV: where, how split, where the rows are kept, in which
    order, which columns."""
    spilled, held = found.spill, found.held is not None
    return {
        "source": str(layout.path),
        "format": "csv",
        "streamed": not held,
        "cached_in_memory": held,
        "spilled": None
        if spilled is None
        else {
            "path": str(spilled.path),
            "bytes": spilled.bytes,
            "rows": spilled.rows,
            "what": "the decoded training rows (float32 features, a 4-byte label), written once by "
            "the checking pass, read each epoch; its folder is removed when the data is "
            "released or the process exits",
        },
        "spill_failed": found.fallback,
        "split": {
            "test_split": chunks.test_split,
            "seed": chunks.seed,
            "method": f"per row, a stateless uniform draw seeded by (seed, chunk of {CHUNK_ROWS} lines)",
        },
        "order": _csv_order(window, spilled is not None, held),
        "label_column": layout.header[layout.label],
        "label_note": layout.note or None,
        "feature_columns": [layout.header[i] for i in layout.features],
    }


def csv_streams(request: DataRequest, info: DataInfo) -> Streams:
    """The CSV as ``tf.data`` pipelines: one checking pass (C++ decoding; a problem is then found
    in Python at its file:line:col), then train/test split per row by a seeded stateless draw.
    Training rows within :data:`CACHE_BYTES` are kept from that pass and each epoch is a seeded
    permutation of them; more are spilled by that pass to a binary file whose windows of
    :func:`window_rows` rows each epoch visits in a seeded order, permuting each window's rows;
    without a spill file the text is decoded again each epoch in chunks, its rows permuted within
    windows in file order (whole-chunk tensor ops, nothing per row)."""
    import tensorflow as tf

    layout = read_layout(request)
    if layout.columns:
        from .typed_streams import CsvChecks, typed_streams

        checks = CsvChecks(
            _verify, _fail, _locate, _split_leaves_rows, _csv_order, window_rows, CHUNK_ROWS
        )
        return typed_streams(layout, request, info, checks)
    a = request.args
    chunks = _csv_chunks(layout, int(a["seed"]), float(a["test_split"]))
    # TensorFlow holds a whole line however long: refuse one over the cap first
    scan_lines(layout.path)
    spill = bool(a.get("spill", True))
    found = _check_pass(layout, chunks.chunks(), info, CACHE_BYTES, spill=spill)
    window = window_rows(len(layout.features))
    windows = None
    if found.spill is not None:
        windows = _SpillWindows(
            weakref.ref(found.spill), window, found.train, len(layout.features), chunks.y_type
        )
    memory = (
        None if found.held is None else (tf.constant(found.held[0]), tf.constant(found.held[1]))
    )
    pipelines = _CsvPipelines(chunks, found.train, window, memory, found.spill, windows)
    record = _csv_record(layout, found, chunks, window)
    return Streams(
        pipelines.train, pipelines.test, found.train, found.test, layout.class_names, record
    )


def window_rows(features: int) -> int:
    """Rows of one shuffling window: :data:`WINDOW_CHUNKS` chunks, fewer for a wide table so a
    window's float32 features stay within :data:`WINDOW_BYTES`, never under one chunk."""
    return max(CHUNK_ROWS, min(WINDOW_CHUNKS * CHUNK_ROWS, WINDOW_BYTES // (4 * max(features, 1))))


@dataclass
class _Pass:
    """What the checking pass found: row counts, and where the training rows are kept — in
    memory (``held``), in a spill file (``spill``), or nowhere (``fallback`` says why, if the
    spill failed: training decodes the text each epoch)."""

    train: int = 0
    test: int = 0
    held: tuple[np.ndarray, np.ndarray] | None = None
    spill: Spill | None = None
    fallback: str | None = None


class _Rows:
    """Where the checking pass keeps the training rows, and the owner of their spill file: in
    memory while they fit in ``budget`` bytes, then (``spill``) in a
    :class:`~netdsl_builtins.spill.Spill`; if writing it fails, a warning and nothing kept
    (``fallback`` says why). As a context manager it removes the spill file when the pass fails,
    so a bad row leaves nothing behind."""

    def __init__(self, layout: CsvLayout, budget: int, spill: bool, y_type: Any) -> None:
        self.layout, self.budget, self.may_spill, self.y_type = layout, budget, spill, y_type
        self.kept: list[tuple[np.ndarray, np.ndarray]] | None = []
        self.held_bytes = 0
        self.spill: Spill | None = None
        self.fallback: str | None = None

    def __enter__(self) -> _Rows:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self.drop()

    def drop(self) -> None:
        """Remove the spill file, if any."""
        if self.spill is not None:
            self.spill.remove()
            self.spill = None

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Keep one chunk's training rows: in memory, in the spill file, or (fallen back) not."""
        rows = (x, y.astype(self.y_type))
        if self.spill is not None:
            self._write(rows)
        elif self.kept is not None:
            self.held_bytes += len(y) * (int(x.shape[1]) + 1) * 4
            if self.held_bytes <= self.budget:
                self.kept.append(rows)
            else:  # too big to hold: the rows so far and the rest go to a spill file
                blocks, self.kept = [*self.kept, rows], None
                if self.may_spill:
                    self._start(blocks)

    def _start(self, blocks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        from .spill import Spill

        try:
            self.spill = Spill(len(self.layout.features), self.y_type)
        except OSError as exc:
            self._give_up(exc)
            return
        for block in blocks:
            self._write(block)

    def _write(self, rows: tuple[np.ndarray, np.ndarray]) -> None:
        if self.spill is not None:
            try:
                self.spill.append(*rows)
            except OSError as exc:
                self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        """The spill file failed (no folder, disk full): drop it, warn, decode text each epoch."""
        self.drop()
        self.fallback = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"netdsl: cannot write the decoded rows of {self.layout.path.name} to a "
            f"temporary file ({self.fallback}); reading the CSV text again each epoch "
            "(slower)",
            RuntimeWarning,
            stacklevel=5,
        )

    def finish(self, out: _Pass) -> None:
        """Close the spill file (a full disk may only show here) and fill in ``out``."""
        import numpy as np

        if self.spill is not None:
            try:
                self.spill.finish()
            except OSError as exc:
                self._give_up(exc)
        out.spill, out.fallback = self.spill, self.fallback
        if self.kept is not None:
            out.held = (
                np.concatenate([x for x, _ in self.kept]).astype(np.float32),
                np.concatenate([y for _, y in self.kept]).reshape(-1, 1),
            )


def _fail(layout: CsvLayout, bad: Callable[[str], bool] | None, what: str) -> NoReturn:
    """Find the first bad row in Python and raise at its file:line:col (else a plain error)."""
    _locate(layout, bad)
    raise NetdslDataError(
        f"{layout.path}: {what}, but no row could be pointed at",
        help="check the file for cells TensorFlow's CSV reader and Python read differently",
    )


def _is_class_id(top: int) -> Callable[[str], bool]:
    """A test for a cell that is *not* a class id in ``0..top``."""

    def bad(v: str) -> bool:
        number = _number(v)
        return not (number is not None and number.is_integer() and 0 <= number <= top)

    return bad


def _verify(layout: CsvLayout, target: Target, x: Any, y: Any) -> None:
    """One decoded chunk checked: finite features, labels known classes, ids or finite values."""
    import numpy as np
    import tensorflow as tf

    if not bool(tf.reduce_all(tf.math.is_finite(x))):
        _fail(layout, None, "a feature is NaN or infinite")
    if layout.label_kind == "names":
        if bool(tf.reduce_any(y < 0)):
            names = set(layout.class_names)
            _fail(layout, lambda v: v not in names, "a label is not a known class")
    elif target.kind in ("classes", "binary"):
        top = target.num_classes - 1 if target.kind == "classes" else 1
        yv = y.numpy()
        if not np.all(np.isfinite(yv)) or (
            yv.size and (yv.min() < 0 or yv.max() > top or not np.all(yv == np.round(yv)))
        ):
            _fail(layout, _is_class_id(top), "a label is not a known class id")
    elif not bool(tf.reduce_all(tf.math.is_finite(y))):
        _fail(
            layout,
            lambda v: not math.isfinite(_number(v) or math.nan),
            "a target is NaN or infinite",
        )


@contextmanager
def _read_faults(layout: CsvLayout) -> Iterator[None]:
    """TensorFlow's read errors as the file's own: the row Python finds at fault, or the message."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as exc:
        _locate(layout)
        raise NetdslDataError(
            f"{layout.path}: cannot be read as CSV: {exc.message.splitlines()[0]}"
        ) from None


def _check_pass(
    layout: CsvLayout, chunks: Any, info: DataInfo, budget: int, spill: bool = True
) -> _Pass:
    """One pass over the whole file: counts, label range; on any problem, its exact place. The
    training rows' features and labels come back as arrays while they fit in ``budget`` bytes
    (float32/int32); past it they are written to a spill file when ``spill`` (see :class:`_Rows`,
    which removes it if the pass fails)."""
    import numpy as np
    import tensorflow as tf

    out = _Pass()
    y_type = np.int32 if info.target.kind == "classes" else np.float32
    with _Rows(layout, budget, spill, y_type) as rows, _read_faults(layout):
        for x, y, is_test in chunks:
            k = int(tf.reduce_sum(tf.cast(is_test, tf.int32)))
            out.test += k
            out.train += int(tf.size(is_test)) - k
            _verify(layout, info.target, x, y)
            if rows.kept is not None or rows.spill is not None:
                mine = ~is_test.numpy()
                rows.add(x.numpy()[mine], y.numpy()[mine])
        _split_leaves_rows(layout.path, out.train, out.test)
        rows.finish(out)
    return out


_CSV_PARAMS = (
    Param("path", T.Str(), None, positional=True, help="the CSV file (else --data PATH)"),
    Param(
        "label",
        T.OneOf((T.Str(), T.ListOf(T.Str()))),
        None,
        help="the label column's name (default: the last column), or several "
        '(`label=["a", "b"]`: a target each, named like its column, for a graph program)',
    ),
    Param(
        "task",
        T.Choice(_TASKS),
        "auto",
        help="auto: names or integers are classes (0/1 only: binary), numbers written as reals "
        "regression (and integers so varied that most classes would have one or two rows)",
    ),
    Param("test_split", T.Float(min=0.01, max=0.9), 0.2, help="fraction of rows held out for test"),
    Param("seed", T.Int(min=0, max=2**32 - 1), 0, help="seed of the test split"),
    Param("delimiter", T.Str(), ",", help="the cell separator"),
    Param(
        "spill",
        T.Bool(),
        True,
        help="training rows over the 32 MiB memory budget are decoded once into a temporary binary "
        "file read each epoch (false: decode the CSV text again each epoch, slower, no disk used)",
    ),
    *(
        Param(
            type_,
            T.ListOf(T.Str()),
            None,
            help=f"feature columns read as {what} (overriding the type the first rows suggest)",
        )
        for type_, what in (
            ("number", "numbers (missing cells imputed, with a missing indicator)"),
            ("category", "categories (one-hot, embedded or hashed by cardinality)"),
            ("binary", "two-valued categories"),
            ("text", "text (words through an embedding, averaged)"),
            ("ignore", "nothing: left out"),
        )
    ),
    Param(
        "types",
        T.MapOf(T.Choice(TYPES)),
        None,
        help="column types by name, `types={description: text, zip: category}` (beside the "
        "lists above; the types are number, category, binary, text, ignore)",
    ),
)

CSV = Dataset(
    name="csv",
    describe=describe_csv,
    load=csv_streams,
    params=_CSV_PARAMS,
    emit=emit_csv(CHUNK_ROWS),
    description="your own table: a CSV with a header row, feature columns (numbers, categories, "
    "binary values, text; missing cells allowed: typed from the first rows, or by number=[...], "
    "category=[...], binary=[...], text=[...], ignore=[...]) and a label "
    "column (names or integers: classes; numbers written as reals: regression). Streamed through "
    "tf.data while training (past 32 MiB of rows, from a decoded temporary copy); "
    "`netdsl check` reads the header, 8 KB of rows and (up to 1 MB) the label column.",
)


# --- NPZ ---------------------------------------------------------------------------------------

_NPZ_KEYS = (("x_train", "y_train", "x_test", "y_test"), ("x", "y"))
_TEXT_LABELS_HELP = (
    "save class ids: `names, y = np.unique(labels, return_inverse=True)`, or use a "
    "CSV, whose label column may hold names"
)


def _check_member(path: Path, m: Member) -> None:
    """An array of examples (x) or labels (y): at least one axis, one example or more, numbers."""
    if not m.shape:
        raise NetdslDataError(
            f"{path}: `{m.name}` is a single value (a 0-d array), not an array of examples",
            help="save one row per example: e.g. np.savez(path, x=x, y=y) "
            "with x of shape (N, ...) and y of shape (N,)",
        )
    if m.shape[0] == 0:
        raise NetdslDataError(f"{path}: `{m.name}` holds no examples (its shape is {m.shape})")
    if m.text and m.name.startswith("y"):
        raise NetdslDataError(
            f"{path}: `{m.name}` holds text labels ({m.dtype}); `npz` labels are "
            "numbers (class ids 0, 1, 2, ... or values)",
            help=_TEXT_LABELS_HELP,
        )
    if not m.numeric:
        raise NetdslDataError(
            f"{path}: `{m.name}` holds {m.dtype} values; netdsl trains on numbers",
            help="save numbers: e.g. x.astype('float32')",
        )


def npz_members(request: DataRequest) -> tuple[Path, dict[str, Member]]:
    """The archive's path and array headers (never their data)."""
    path = _path(request, ".npz file of arrays")
    with Npz(path) as npz:
        return path, npz.members


def _npz_layout(request: DataRequest) -> tuple[Path, dict[str, Member], tuple[str, ...]]:
    """The archive's array headers (never their data), checked: the keys, shapes, row counts."""
    path, members = npz_members(request)
    keys = next((k for k in _NPZ_KEYS if all(n in members for n in k)), None)
    if keys is None:
        raise NetdslDataError(
            f"{path}: holds {', '.join(sorted(members)) or 'no arrays'}; `npz` reads "
            "x_train, y_train, x_test, y_test, or x and y (split by test_split)",
            help="np.savez(path, x=features, y=labels)",
        )
    heads = {k: members[k] for k in keys}
    for member in heads.values():
        _check_member(path, member)
    for xs, ys in (("x_train", "y_train"), ("x_test", "y_test"), ("x", "y")):
        if xs in heads and heads[xs].shape[0] != heads[ys].shape[0]:
            raise NetdslDataError(
                f"{path}: `{xs}` has {heads[xs].shape[0]} rows but `{ys}` "
                f"has {heads[ys].shape[0]}; they must match one to one"
            )
    if "x_test" in heads and heads["x_train"].shape[1:] != heads["x_test"].shape[1:]:
        raise NetdslDataError(
            f"{path}: x_train examples are {heads['x_train'].shape[1:]} but x_test's "
            f"are {heads['x_test'].shape[1:]}"
        )
    return path, heads, keys


def _is_pixels(m: Member) -> bool:
    """uint8 examples of two or more axes are pictures: scaled to [0, 1], as every image dataset."""
    return m.dtype.kind == "u" and m.dtype.itemsize == 1 and len(m.shape) >= 3


def _input_shape(m: Member) -> tuple[int, ...]:
    """The model input of one example: (N, H, W) uint8 pictures are grey images of H x W x 1
    (as ``mnist`` delivers the same pixels); other arrays as they are, a column as (1,)."""
    if _is_pixels(m) and len(m.shape) == 3:
        return (*m.shape[1:], 1)
    return tuple(m.shape[1:]) or (1,)


@dataclass
class _Labels:
    """What the labels hold, gathered one block at a time (they are never read whole to check)."""

    ndim: int
    width: int
    integral: bool  # an integer or boolean dtype
    finite: bool = True
    whole: bool = True
    low: float = math.inf
    high: float = -math.inf
    one_hot: bool = True

    @classmethod
    def of(cls, m: Member) -> _Labels:
        column = len(m.shape) == 2 and m.shape[1] == 1
        ndim = 1 if column else len(m.shape)
        return cls(ndim, 1 if ndim == 1 else math.prod(m.shape[1:]), m.dtype.kind in "biu")

    def add(self, y: np.ndarray) -> None:
        import numpy as np

        if not y.size:
            return
        y = y.reshape(len(y), -1) if self.ndim == 2 else y.reshape(-1)
        if not self.integral:
            finite = np.isfinite(y)
            self.finite = self.finite and bool(finite.all())
            self.whole = self.whole and bool(np.all(y[finite] == np.round(y[finite])))
        self.low, self.high = (
            min(self.low, float(np.nanmin(y))),
            max(self.high, float(np.nanmax(y))),
        )
        if self.ndim == 2 and self.one_hot:
            self.one_hot = bool(np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all())


def _npz_target(path: Path, y: _Labels, task: str, shape: tuple[int, ...]) -> Target:
    """The target the labels are (``shape``: one label's shape, for regression)."""
    if y.ndim == 2 and task != "regression" and y.one_hot:
        return Target("classes", y.width)  # one-hot rows
    if task == "regression" or (task == "auto" and (not y.integral or y.ndim != 1)):
        if not y.finite:
            raise NetdslDataError(f"{path}: y holds NaN or infinite values")
        return Target("regression", shape=shape or (1,))
    if y.ndim != 1 or not y.finite or (not y.integral and not y.whole):
        raise NetdslDataError(
            f"{path}: task={task} needs one whole-number class id per example; "
            f"y is not (shape {('N', *shape)})"
        )
    if y.low < 0:
        raise NetdslDataError(f"{path}: y holds the negative class id {int(y.low)}")
    top = int(y.high)
    if task == "binary" or (task == "auto" and top <= 1):
        if top > 1:
            raise NetdslDataError(f"{path}: task=binary needs labels 0 and 1; y reaches {top}")
        return Target("binary")
    return Target("classes", max(top + 1, 2))


def _label_shape(m: Member) -> tuple[int, ...]:
    return tuple(m.shape[1:]) if tuple(m.shape[1:]) != (1,) else ()


def _labels_of(
    path: Path, heads: dict[str, Member], keys: Sequence[str]
) -> tuple[_Labels, tuple[int, ...]]:
    """The label arrays' summary, read in blocks, and one label's shape."""
    ys = [k for k in keys if k.startswith("y")]
    labels = _Labels.of(heads[ys[0]])
    with Npz(path) as npz:
        for key in ys:
            for block in npz.blocks(key):
                labels.add(block)
    return labels, _label_shape(heads[ys[0]])


def describe_npz(request: DataRequest) -> DataInfo:
    """Shapes from the arrays' headers; the target from the labels, read a block at a time
    (never the features)."""
    path, heads, keys = _npz_layout(request)
    labels, shape = _labels_of(path, heads, keys)
    target = _npz_target(path, labels, request.args["task"], shape)
    n = heads[keys[0]].shape[0]
    if "x_train" in heads:
        train, test = n, heads["x_test"].shape[0]
    else:
        test = _test_count(n, request.args["test_split"])
        train = n - test
    return DataInfo(_input_shape(heads[keys[0]]), target, train_size=train, test_size=test)


def _test_count(n: int, test_split: float) -> int:
    return n - int(n * (1 - test_split))


def _encode(y: np.ndarray, target: Target) -> np.ndarray:
    """Labels as the target wants them: class ids (int64; one-hot rows by their argmax) or float32."""
    import numpy as np

    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if target.kind == "classes":
        return (y.argmax(axis=1) if y.ndim == 2 else y).astype(np.int64)
    return y.astype(np.float32)


def _examples(path: Path, m: Member, x: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """x as float32 model inputs: pixels scaled to [0, 1], other numbers checked finite."""
    import numpy as np

    if _is_pixels(m):
        return scale_pixels(x).reshape((len(x), *input_shape))
    out = x.astype(np.float32)
    if not np.all(np.isfinite(out)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise NetdslDataError(
            f"{path}: `{m.name}` holds NaN or infinite values (first at index {bad})",
            help="fill in or drop those examples; netdsl does not guess values",
        )
    return out.reshape((len(x), *input_shape))


def load_npz(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
    """The arrays, read by the bounded reader (headers first, never unpickled); ``x, y`` split by
    the seeded ``test_split``. uint8 pictures are scaled to [0, 1], other x as float32."""
    from .keras_datasets import split_seeded

    path, heads, keys = _npz_layout(request)
    with Npz(path) as npz:
        got = npz.arrays(list(keys))
    a = request.args
    target = info.target
    if "x_train" in got:
        return (
            _examples(path, heads["x_train"], got["x_train"], info.input_shape),
            _encode(got["y_train"], target),
            _examples(path, heads["x_test"], got["x_test"], info.input_shape),
            _encode(got["y_test"], target),
        )
    y = _encode(got["y"], target)
    train, test = split_seeded(len(y), a["test_split"], a["seed"])
    if not len(train) or not len(test):
        raise NetdslDataError(
            f"{path}: {len(y)} examples split into {len(train)} training and "
            f"{len(test)} test; give more examples or another test_split"
        )
    x = _examples(path, heads["x"], got["x"], info.input_shape)
    return x[train], y[train], x[test], y[test]


NPZ = Dataset(
    name="npz",
    describe=describe_npz,
    load=load_npz,
    emit=emit_npz,
    description="your own arrays: an .npz with x_train, y_train, x_test, y_test, or x and y "
    "split by test_split (seeded). Integer labels are classes (0/1 only: binary), "
    "real ones regression; uint8 (N, H, W) are grey pictures, as mnist gives them. Read "
    "headers first, bounded in size, never unpickled.",
    params=(
        Param("path", T.Str(), None, positional=True, help="the .npz file (else --data PATH)"),
        Param("task", T.Choice(_TASKS), "auto", help="auto: decided from the labels' type"),
        Param(
            "test_split", T.Float(min=0.01, max=0.9), 0.2, help="fraction of x, y held out for test"
        ),
        Param("seed", T.Int(min=0, max=2**32 - 1), 113, help="seed of the test split"),
    ),
)
