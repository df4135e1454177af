"""Typed table columns as plain data: what a column holds and how the model encodes it.

A dataset plugin (``csv``) infers each feature column's type from a bounded sample of the file
(:func:`infer`), and the plan carries the resulting :class:`Column` records
(:attr:`~netdsl.vocab.components.DataInfo.columns`). Everything here is pure Python: ``check``
knows every column's encoded width (so every shape) before any data is read; the Keras side
(:mod:`netdsl.keras.features`) builds the preprocessing layers from these records, and training
fills in what they learn (means, vocabularies) from one pass over the training split.

Each column is its own record, named and self-contained, so that one may later be routed to a
named model input (``description -> embedding ... -> lstm 32``) instead of the default encoder.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = [
    "EMBED_DIM",
    "EMBED_TOKENS",
    "HASH_BINS",
    "MISSING",
    "ONE_HOT_MAX",
    "TEXT_DIM",
    "TEXT_TOKENS",
    "TYPES",
    "Column",
    "column_table",
    "encoded_width",
    "infer_type",
    "input_lines",
    "is_missing",
    "make_column",
    "text_length",
]

#: the column types a user may name in an override; ``ignore`` drops the column
TYPES = ("number", "category", "binary", "text", "ignore")
#: cells read as missing (compared after stripping spaces): empty, and the usual spellings
MISSING = frozenset({"", "NA", "N/A", "n/a", "na", "NaN", "nan", "NAN", "null", "NULL", "None"})
#: a category column with at most this many distinct values in the sample is one-hot encoded
ONE_HOT_MAX = 16
#: lookup tokens (out-of-vocabulary bucket included) of an embedded category column
EMBED_TOKENS = 1000
#: width of a category's embedding
EMBED_DIM = 16
#: a category whose sample is mostly distinct values (an id, a zip code) is hashed into this
#: many bins, then embedded: no vocabulary is counted, so memory stays flat at any cardinality
HASH_BINS = 1024
#: text vocabulary size (the padding id 0 and the out-of-vocabulary id 1 included)
TEXT_TOKENS = 10_000
#: width of the text embedding (averaged over the tokens)
TEXT_DIM = 32
#: bounds of the token sequence length learned from the sample (95th percentile, rounded up to 8)
TEXT_LENGTH = (8, 256)
#: a string column is text when its cells average at least this many words (or two, when
#: nearly every cell is distinct: a title, a synopsis, not a name repeated down the column)
TEXT_WORDS = 4
_WORDS = re.compile(r"\S+")


def is_missing(cell: str) -> bool:
    """Whether a cell is missing: empty, or a usual spelling of "not available"."""
    return cell.strip() in MISSING


@dataclass(frozen=True)
class Column:
    """One feature column: its type, what the sample showed, and its encoder.

    ``encoder`` is ``normalize`` (number: imputed with the training mean, normalized, plus a
    missing indicator when ``indicator``), ``one_hot`` (category or binary: a lookup of at most
    ``tokens`` values, out-of-vocabulary bucket included), ``embed`` (a lookup of ``tokens`` then
    an embedding of ``dim``), ``hash`` (``tokens`` hash bins then an embedding of ``dim``) or
    ``text`` (``tokens`` words, sequences of ``length``, an embedding of ``dim``, averaged)."""

    name: str
    index: int  # position in the file's header
    type: str
    encoder: str
    tokens: int = 0
    dim: int = 0
    length: int = 0
    indicator: bool = False
    values: tuple[str, ...] = ()  # a binary column's two values, as the sample showed them
    missing: int = 0  # missing cells in the sample
    distinct: int = 0  # distinct values in the sample (missing ones aside)
    rows: int = 0  # rows in the sample
    overridden: bool = False

    @property
    def width(self) -> int:
        """Values this column adds to the model's feature vector."""
        return encoded_width(self)

    @property
    def input_dtype(self) -> str:
        """The model input's dtype for this column: numbers float32 (NaN: missing), else string."""
        return "float32" if self.type == "number" else "string"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["values"] = list(self.values)
        out["width"] = self.width
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Column:
        fields = {k: v for k, v in data.items() if k != "width"}
        fields["values"] = tuple(fields.get("values", ()))
        return cls(**fields)


def encoded_width(column: Column) -> int:
    """The number of values the column's encoder outputs."""
    if column.encoder == "normalize":
        return 2 if column.indicator else 1
    if column.encoder == "one_hot":
        return column.tokens
    return column.dim


def infer_type(cells: Sequence[str], is_number: Any) -> str:
    """The type of a column from its sample's non-missing cells: ``number`` when every one is
    a number (``is_number``), ``text`` when they average :data:`TEXT_WORDS` words or more (or
    two, nine in ten of them distinct), ``binary`` for exactly two distinct strings, else
    ``category``."""
    if cells and all(is_number(c) for c in cells):
        return "number"
    if not cells:
        return "category"
    words = sum(len(_WORDS.findall(c)) for c in cells) / len(cells)
    distinct = len(set(cells))
    if words >= TEXT_WORDS or (words >= 2 and 10 * distinct >= 9 * len(cells)):
        return "text"
    if distinct == 2:
        return "binary"
    return "category"


def text_length(cells: Sequence[str]) -> int:
    """Token sequence length for a text column: the sample's 95th percentile of words per cell,
    rounded up to a multiple of 8, within :data:`TEXT_LENGTH`."""
    counts = sorted(len(_WORDS.findall(c)) for c in cells) or [0]
    p95 = counts[min(len(counts) - 1, math.ceil(0.95 * len(counts)) - 1)]
    low, high = TEXT_LENGTH
    return max(low, min(high, -(-p95 // 8) * 8))


def make_column(
    name: str,
    index: int,
    type_: str,
    cells: Sequence[str],
    missing: int,
    overridden: bool = False,
) -> Column:
    """The record of a column of type ``type_`` whose sample's non-missing cells are ``cells``:
    its default encoder, decided by the sample (cardinality, words per cell)."""
    distinct = len(set(cells))
    rows = len(cells) + missing
    base = Column(
        name,
        index,
        type_,
        "normalize",
        missing=missing,
        distinct=distinct,
        rows=rows,
        overridden=overridden,
    )
    if type_ == "number":
        return replace(base, indicator=missing > 0)
    if type_ == "binary":
        return replace(base, encoder="one_hot", tokens=3, values=tuple(sorted(set(cells))))
    if type_ == "text":
        return replace(
            base, encoder="text", tokens=TEXT_TOKENS, dim=TEXT_DIM, length=text_length(cells)
        )
    if distinct <= ONE_HOT_MAX:
        # room for values past the sample: twice what it showed, the OOV/missing bucket included
        return replace(base, encoder="one_hot", tokens=max(4, 2 * distinct) + 1)
    if len(cells) >= 100 and distinct > len(cells) // 2:
        return replace(base, encoder="hash", tokens=HASH_BINS, dim=EMBED_DIM)
    return replace(base, encoder="embed", tokens=EMBED_TOKENS, dim=EMBED_DIM)


def column_table(columns: Sequence[Column]) -> str:
    """The columns as ``check`` prints them: name, type, encoder, missing cells and distinct
    values in the sample."""
    rows = [("column", "type", "encoder", "width", "missing", "distinct")]
    for c in columns:
        encoder = c.encoder + (" +missing" if c.indicator else "")
        rows.append(
            (
                c.name,
                c.type + ("*" if c.overridden else ""),
                encoder,
                str(c.width),
                f"{c.missing}/{c.rows}",
                str(c.distinct),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines) + (
        "\n(* given in the program)" if any(c.overridden for c in columns) else ""
    )


def input_lines(inputs: Sequence[Any]) -> str:
    """A graph's inputs over a typed table, one line each: ``x`` (the columns it does not
    route, encoded) and each routed column with its shape (and a text column's vocabulary)."""
    lines = []
    for i in inputs:
        what = "the other columns, encoded" if i.kind == "columns" else i.kind
        ids = f" ids below {i.vocabulary:,}" if getattr(i, "vocabulary", None) else ""
        shape = "x".join(str(d) for d in i.shape)
        lines.append(f"input {i.name}: {shape} {i.dtype}{ids} ({what})")
    return "\n".join(lines)
