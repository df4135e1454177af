"""``netdsl predict`` for a graph's model: its inputs by name, each output printed by name.

The inputs come as ``NAME=FILE`` arguments (each file read as ``predict`` reads one input:
images, .npy/.npz arrays, CSV rows; the files give as many examples each), or one ``.npz``
holding an ``x_<name>`` array per input (the training data's layout), or one CSV whose header
names each input's columns (``a`` for an input of one value, ``a_0``, ``a_1``, ... for several).
A model with one input also takes its files plainly, as a chain's model does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NetdslInputError
from ..vocab.registry import suggest
from .datafiles import Npz, parse_number, read_lines, regular_file, split_row

if TYPE_CHECKING:  # pragma: no cover
    from ..checking.graph import GraphInput

__all__ = ["NamedExample", "read_named"]

#: ``a=digits/a.npy``: an input's name, then its file
_NAMED_ARG = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<path>.+)")
#: a CSV header cell: the input's name, and for an input of several values the value's index
_COLUMN = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*?)(?:_(?P<index>\d+))?")


@dataclass
class NamedExample:
    """One example of every input (``xs`` by input name), named for the output."""

    name: str
    xs: dict[str, np.ndarray]
    note: str = ""


def _how(inputs: Sequence[GraphInput]) -> str:
    names = [i.name for i in inputs]
    return (
        f"give each input as NAME=FILE ({' '.join(f'{n}={n}.npy' for n in names)}), one .npz "
        f"with the arrays {', '.join(f'x_{n}' for n in names)}, or one .csv whose header "
        f"names the columns ({', '.join(names)})"
    )


def read_named(paths: Sequence[str], inputs: Sequence[GraphInput]) -> list[NamedExample]:
    """The examples ``paths`` give for the named ``inputs``, each shaped as its input; a
    missing, unknown or badly shaped input is an error naming the file and the input."""
    from .predict import read_inputs

    pairs = [_NAMED_ARG.fullmatch(p) for p in paths]
    if paths and all(pairs):
        return _from_named_files([(m["name"], m["path"]) for m in pairs if m], inputs)
    if any(pairs) and not all(pairs):
        raise NetdslInputError(
            "give every input as NAME=FILE, or none: "
            + " ".join(p for p, m in zip(paths, pairs) if not m)
            + " has no name",
            help=_how(inputs),
        )
    if len(inputs) == 1:  # one named input: files as for a chain's model
        only = inputs[0]
        return [
            NamedExample(e.name, {only.name: np.asarray(e.x)}, e.note)
            for e in read_inputs(paths, tuple(only.shape))
        ]
    if len(paths) == 1 and paths[0].lower().endswith(".npz"):
        return _from_npz(Path(paths[0]), inputs)
    if len(paths) == 1 and paths[0].lower().endswith(".csv"):
        return list(_from_csv(Path(paths[0]), inputs))
    names = ", ".join(f"`{i.name}`" for i in inputs)
    raise NetdslInputError(
        f"this model takes {len(inputs)} inputs ({names}): cannot tell which file is which",
        help=_how(inputs),
    )


def _check_names(given: Sequence[str], inputs: Sequence[GraphInput], where: str) -> None:
    """Every input given once, and nothing else."""
    names = [i.name for i in inputs]
    for name in given:
        if name not in names:
            close = suggest(name, names)
            raise NetdslInputError(
                f"{where}: the model has no input `{name}` (its inputs: {', '.join(names)})",
                help=f"did you mean `{close}`?" if close else _how(inputs),
            )
    twice = sorted({n for n in given if list(given).count(n) > 1})
    if twice:
        raise NetdslInputError(f"{where}: the input `{twice[0]}` is given twice")
    missing = [n for n in names if n not in given]
    if missing:
        raise NetdslInputError(
            f"{where}: no values for the input{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"`{n}`" for n in missing),
            help=_how(inputs),
        )


def _joined(parts: dict[str, list[Any]], names: dict[str, str]) -> list[NamedExample]:
    """Examples joined row by row across inputs (each input as many rows)."""
    counts = {k: len(v) for k, v in parts.items()}
    if len(set(counts.values())) > 1:
        said = ", ".join(f"{names[k]} gives {n}" for k, n in counts.items())
        raise NetdslInputError(f"the inputs give different numbers of examples: {said}")
    first = next(iter(parts))
    out = []
    for i in range(counts[first]):
        xs = {k: v[i].x for k, v in parts.items()}
        notes = sorted({v[i].note for v in parts.values() if v[i].note})
        label = (
            parts[first][i].name
            if len(parts) == 1
            else " ".join(f"{k}={v[i].name}" for k, v in parts.items())
        )
        out.append(NamedExample(label, xs, "; ".join(notes)))
    return out


def _from_named_files(
    pairs: Sequence[tuple[str, str]], inputs: Sequence[GraphInput]
) -> list[NamedExample]:
    from .predict import read_inputs

    _check_names([n for n, _ in pairs], inputs, "the files given")
    shapes = {i.name: tuple(i.shape) for i in inputs}
    parts = {name: read_inputs([path], shapes[name]) for name, path in pairs}
    ordered = {i.name: parts[i.name] for i in inputs}
    return _joined(ordered, dict(pairs))


def _from_npz(p: Path, inputs: Sequence[GraphInput]) -> list[NamedExample]:
    """An ``x_<name>`` array per input (or one named ``<name>``), a batch or one example."""
    from .predict import _arrays

    regular_file(p, "a .npz array file", NetdslInputError)
    with Npz(p, NetdslInputError) as archive:
        keys = {}
        for i in inputs:
            key = next((k for k in (f"x_{i.name}", i.name) if k in archive.members), None)
            if key is not None:
                keys[i.name] = key
        _check_names(list(keys), inputs, str(p))
        extra = sorted(set(archive.members) - set(keys.values()))
        if extra:
            raise NetdslInputError(
                f"{p}: the array `{extra[0]}` is no input of the model", help=_how(inputs)
            )
        for key in keys.values():
            member = archive.members[key]
            if not member.numeric:
                raise NetdslInputError(f"{p}:{key}: holds {member.dtype} values, not numbers")
        arrays = archive.arrays(list(keys.values()))
    shapes = {i.name: tuple(i.shape) for i in inputs}
    parts = {
        name: list(_arrays(f"{p}:{key}", arrays[key], shapes[name])) for name, key in keys.items()
    }
    examples = _joined(parts, {k: f"{p}:{v}" for k, v in keys.items()})
    for row, e in enumerate(examples):  # one name per row, not one per array
        e.name = f"{p}[{row}]" if len(examples) > 1 else str(p)
    return examples


def _columns(p: Path, header: list[str], inputs: Sequence[GraphInput]) -> dict[str, list[int]]:
    """Each input's columns, by the header (``a``, or ``a_0``, ``a_1``, ...), in index order."""
    names = [i.name for i in inputs]
    found: dict[str, list[tuple[int, int]]] = {}
    for col, cell in enumerate(header):
        text = cell.strip()
        m = _COLUMN.fullmatch(text)
        name = text if text in names else (m["name"] if m and m["index"] else None)
        if name not in names:
            close = suggest(text, names)
            raise NetdslInputError(
                f"{p}:1: the column `{text[:40]}` (column {col + 1}) names no input of the model",
                help=f"did you mean `{close}`?" if close else _how(inputs),
            )
        assert name is not None
        index = 0 if text == name else int(m["index"]) if m else 0
        found.setdefault(name, []).append((index, col))
    _check_names(list(found), inputs, f"{p}:1")
    columns = {}
    for i in inputs:
        size = int(np.prod(i.shape))
        cols = [c for _, c in sorted(found[i.name])]
        if len(cols) != size:
            raise NetdslInputError(
                f"{p}:1: the input `{i.name}` takes {size:,} values, and {len(cols)} columns "
                "are named for it"
            )
        columns[i.name] = cols
    return columns


def _from_csv(p: Path, inputs: Sequence[GraphInput]) -> Iterator[NamedExample]:
    """Rows of numbers under a header naming each input's columns."""
    regular_file(p, "a .csv file", NetdslInputError)
    columns: dict[str, list[int]] | None = None
    width, found = 0, False
    try:
        for line, text in read_lines(p, error=NetdslInputError):
            row = [cell for cell, _ in split_row(text, ",")]
            if all(not c for c in row):
                continue
            if columns is None:
                columns = _columns(p, row, inputs)
                width = len(row)
                continue
            if len(row) != width:
                raise NetdslInputError(f"{p}:{line}: {len(row)} columns, the header names {width}")
            values = [parse_number(c) for c in row]
            bad = next((i for i, v in enumerate(values) if v is None), None)
            if bad is not None:
                raise NetdslInputError(
                    f"{p}:{line}: `{row[bad][:40]}` (column {bad + 1}) is not a number"
                )
            x = np.asarray(values, dtype=np.float32)
            if not np.all(np.isfinite(x)):
                raise NetdslInputError(f"{p}:{line}: a value is NaN or infinite")
            xs = {i.name: x[columns[i.name]].reshape(i.shape) for i in inputs}
            found = True
            yield NamedExample(f"{p}:{line}", xs)
    except (OSError, UnicodeDecodeError) as exc:
        raise NetdslInputError(f"{p}: not a readable CSV file ({exc})") from None
    if columns is None:
        raise NetdslInputError(f"{p}: no header naming the inputs' columns", help=_how(inputs))
    if not found:
        raise NetdslInputError(f"{p}: no rows of numbers under its header")
