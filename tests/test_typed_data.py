"""Typed CSV columns (issue 23): types from the first rows, overrides, missing values, the
default encoders inside the model, the one pass over the training split, raw-row predict."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import builtin_registry

import netdsl
from netdsl.errors import NetdslDataError, NetdslError
from netdsl.vocab.columns import Column, column_table, infer_type, make_column, text_length
from netdsl.vocab.components import DataRequest

WORDS_A = ["fast", "small", "python", "library", "tool"]
WORDS_B = ["network", "graph", "server", "daemon", "file"]


def mixed_csv(path: Path, rows: int = 300, seed: int = 0, extra: str = "") -> Path:
    """A table of a number (some cells empty or NA), a category, a binary value and a text
    column, whose text carries the label."""
    rng = random.Random(seed)
    lines = ["size,arch,priority,description,y"]
    for i in range(rows):
        y = rng.choice("ab")
        size = ("", "NA")[i % 2] if i % 11 == 0 else str(rng.randint(1, 100))
        words = WORDS_A if y == "a" else WORDS_B
        text = " ".join(rng.choice(words) for _ in range(5))
        arch = rng.choice(["amd64", "all", "i386"])
        lines.append(f"{size},{arch},{rng.choice(['optional', 'required'])},{text},{y}")
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def check(path: Path, args: str = "", net: str = "dense 8 relu -> dense 2 softmax") -> Any:
    return netdsl.check(
        f'dataset: csv("{path}", label="y"{args})\nepochs: 1\n{net}', builtin_registry()
    )


def check_error(path: Path, args: str = "") -> NetdslError:
    with pytest.raises(NetdslError) as info:
        check(path, args)
    return info.value


# --- types from the sample ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["1", "2.5", "-3"], "number"),
        (["amd64", "all", "i386"], "category"),
        (["yes", "no", "yes"], "binary"),
        (["a fast python tool", "the graph server daemon"], "text"),
        (["1", "x", "y"], "category"),
    ],
    ids=["number", "category", "binary", "text", "mixed"],
)
def test_infer_type(cells: list[str], expected: str) -> None:
    assert infer_type(cells, lambda c: c.lstrip("-").replace(".", "", 1).isdigit()) == expected


@pytest.mark.parametrize(
    ("type_", "cells", "encoder", "width"),
    [
        ("number", ["1"], "normalize", 1),
        ("category", [str(i % 5) for i in range(50)], "one_hot", 11),
        ("category", [f"v{i % 40}" for i in range(200)], "embed", 16),
        ("category", [f"id{i}" for i in range(200)], "hash", 16),
        ("binary", ["y", "n"], "one_hot", 3),
        ("text", ["one two three"] * 10, "text", 32),
    ],
    ids=["number", "one-hot", "embed", "hash", "binary", "text"],
)
def test_default_encoder_by_type_and_cardinality(
    type_: str, cells: list[str], encoder: str, width: int
) -> None:
    column = make_column("c", 0, type_, cells, 0)
    assert (column.encoder, column.width) == (encoder, width)
    assert Column.from_json(column.to_json()) == column


def test_a_number_with_missing_cells_gets_an_indicator() -> None:
    assert make_column("c", 0, "number", ["1", "2"], 3).width == 2


def test_text_length_is_the_95th_percentile_rounded_to_8() -> None:
    assert text_length(["w " * 10] * 100) == 16 and text_length(["w"]) == 8
    assert text_length(["w " * 1000]) == 256


def test_check_types_every_column_and_prints_the_table(tmp_path: Path) -> None:
    path = mixed_csv(tmp_path / "t.csv")
    m = check(path)
    kinds = [(c.name, c.type, c.encoder) for c in m.data.columns]
    assert kinds == [
        ("size", "number", "normalize"),
        ("arch", "category", "one_hot"),
        ("priority", "binary", "one_hot"),
        ("description", "text", "text"),
    ]
    assert m.input_shape == (2 + 7 + 3 + 32,)
    size = m.data.columns[0]
    assert size.indicator and size.missing > 0 and size.rows > 50
    (tmp_path / "m.net").write_text(
        f'dataset: csv("{path}", label="y")\ndense 8 relu -> dense 2 softmax\n'
    )
    from netdsl.tools.cli import main

    result = CliRunner().invoke(main, ["check", str(tmp_path / "m.net")])
    assert result.exit_code == 0, result.output
    assert "description  text" in result.output and "missing" in result.output
    assert column_table(m.data.columns).splitlines()[0].split() == [
        "column",
        "type",
        "encoder",
        "width",
        "missing",
        "distinct",
    ]


def test_a_numeric_table_without_missing_cells_stays_on_the_numeric_path(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(40)))
    m = check(path, net="dense 1 sigmoid")
    assert m.data.columns == () and m.input_shape == (2,)


# --- overrides ----------------------------------------------------------------------------------


def test_overrides_set_types_and_drop_columns(tmp_path: Path) -> None:
    path = mixed_csv(tmp_path / "t.csv")
    m = check(path, ', category=["size"], ignore=["priority"], text=["arch"]')
    kinds = {c.name: (c.type, c.overridden) for c in m.data.columns}
    assert kinds == {
        "size": ("category", True),
        "arch": ("text", True),
        "description": ("text", False),
    }


def test_an_override_of_a_numeric_table_reads_it_typed(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    m = check(path, ', category=["b"]', net="dense 1 sigmoid")
    assert [c.type for c in m.data.columns] == ["number", "category"]


BAD_OVERRIDES = {
    "missing-column": (
        ', text=["descripton"]',
        "no column `descripton`",
        "did you mean `description`?",
    ),
    "label": (', text=["y"]', "`y` is the label column", None),
    "twice": (', text=["arch"], category=["arch"]', "listed as both category and text", None),
    "number-of-words": (', number=["arch"]', "in column `arch` is not a number", None),
    "binary-of-three": (', binary=["arch"]', "listed as binary but holds 3 values", None),
}


@pytest.mark.parametrize("case", BAD_OVERRIDES, ids=list(BAD_OVERRIDES))
def test_bad_overrides_are_clear_errors(tmp_path: Path, case: str) -> None:
    args, message, help_ = BAD_OVERRIDES[case]
    err = check_error(mixed_csv(tmp_path / "t.csv"), args)
    assert isinstance(err, NetdslDataError) and message in err.message
    if help_:
        assert err.help == help_


# --- bad input ----------------------------------------------------------------------------------


def _table(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


BAD_TABLES = {
    "all-empty": ("a,b,y", [f"{i},,{'pq'[i % 2]}" for i in range(30)], "column `b` is empty"),
    "one-class": ("a,b,y", [f"{i},x{i % 3},p" for i in range(30)], "holds only `p`"),
    "repeated-header": ("a,a,y", [f"{i},x,{'pq'[i % 2]}" for i in range(30)], "named twice"),
    "short-row": ("a,b,y", ["1,x,p", "2,q"], "row has 2 cells"),
    "mostly-numbers": (
        "a,b,y",
        [f"{i},{i if i != 5 else 'oops'},{'pq'[i % 2]}" for i in range(30)],
        "`oops` in column `b` is not a number, and 29 of the 30",
    ),
}


@pytest.mark.parametrize("case", BAD_TABLES, ids=list(BAD_TABLES))
def test_bad_tables_are_clear_errors(tmp_path: Path, case: str) -> None:
    header, rows, message = BAD_TABLES[case]
    err = check_error(_table(tmp_path / "t.csv", header, rows))
    assert isinstance(err, NetdslDataError) and message in err.message


def test_broken_utf8_in_the_first_rows_is_named_at_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b,y\n1,ok,p\n2,caf\xe9,q\n" + b"3,x,p\n" * 20)
    err = check_error(path)
    assert err.span is not None and (err.span.line, err.span.column) == (3, 6)
    assert "not UTF-8" in err.message


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b,y\n1,x\0y,p\n" + b"3,x,p\n" * 20)
    err = check_error(path)
    assert "NUL" in err.message


def test_a_million_distinct_categories_are_hashed(tmp_path: Path) -> None:
    """Mostly-distinct values (an id): hashed, so no vocabulary is counted (memory flat)."""
    path = _table(tmp_path / "t.csv", "user,y", [f"u{i:07d},{'pq'[i % 2]}" for i in range(2000)])
    (column,) = check(path).data.columns
    assert column.encoder == "hash" and column.width == 16


# --- training: the pass, the pipeline, the model --------------------------------------------------


def _load(path: Path, **args: Any) -> Any:
    from netdsl_builtins.tabular import CSV

    full = {p.name: p.default for p in CSV.params}
    full.update(label="y", **args)
    req = DataRequest("csv", full, str(path))
    return CSV.load(req, CSV.describe(req))


def test_stats_are_learned_on_the_training_split_only(tmp_path: Path) -> None:
    import numpy as np

    streams = _load(mixed_csv(tmp_path / "t.csv", rows=400))
    sizes = []
    for x, _ in streams.train(1000, 0):
        sizes.append(x["size"].numpy().ravel())
    train = np.concatenate(sizes)
    assert len(train) == streams.train_size < 400
    learned = streams.state["size"]
    assert math.isclose(learned["mean"], float(np.nanmean(train)), rel_tol=1e-6)
    assert learned["count"] == int(np.sum(~np.isnan(train)))
    test = np.concatenate([x["size"].numpy().ravel() for x, _ in streams.test(1000)])
    assert len(test) == streams.test_size and not math.isclose(
        learned["mean"], float(np.nanmean(np.concatenate([train, test]))), rel_tol=1e-9
    )
    assert set(streams.state["arch"]["vocabulary"]) == {"amd64", "all", "i386"}
    assert {"fast", "graph"} <= set(streams.state["description"]["vocabulary"])
    assert streams.record["columns"][0]["name"] == "size"


def test_a_cell_past_the_sample_that_breaks_its_type_is_named_when_training(
    tmp_path: Path,
) -> None:
    path = mixed_csv(tmp_path / "t.csv", rows=300, extra="abc,all,optional,fast tool,a\n")
    check(path)  # the sample (8 KB) does not reach the last line
    with pytest.raises(NetdslDataError) as info:
        _load(path)
    assert info.value.span is not None and (info.value.span.line, info.value.span.column) == (
        302,
        1,
    )
    assert "`abc` in column `size` is not a number" in info.value.message


def test_broken_utf8_past_the_sample_is_named_when_training(tmp_path: Path) -> None:
    path = mixed_csv(tmp_path / "t.csv", rows=300)
    path.write_bytes(path.read_bytes() + b"5,all,optional,caf\xe9 tool,a\n")
    with pytest.raises(NetdslDataError) as info:
        _load(path)
    assert info.value.span is not None and (info.value.span.line, info.value.span.column) == (
        302,
        19,
    )


@pytest.mark.slow
def test_the_shortest_program_trains_and_predicts_raw_rows(tmp_path: Path) -> None:
    """Trained end to end; the saved model takes raw rows, with unseen values and missing cells."""
    from netdsl.keras.predict import load_predictor, read_inputs
    from netdsl.tools.cli import main

    path = mixed_csv(tmp_path / "t.csv", rows=600)
    program = tmp_path / "m.net"
    program.write_text(
        f'dataset: csv("{path}", label="y")\nepochs: 8\ndense 16 relu -> dense 2 softmax\n'
    )
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(program), "--out", str(runs), "--quiet"])
    assert result.exit_code == 0, result.output
    (folder,) = runs.iterdir()
    rows = tmp_path / "new.csv"
    rows.write_text(
        "description,arch,size,priority\n"
        "fast python library tool small,sparc,,NA\n"
        "network graph server daemon file,all,77,optional\n"
    )
    predictor = load_predictor(folder)
    results = predictor.predict(read_inputs([str(rows)], predictor.input_shape, predictor.columns))
    assert [r["top"][0]["label"] for r in results] == ["a", "b"]
    out = CliRunner().invoke(main, ["predict", str(folder), str(rows)])
    assert out.exit_code == 0 and "new.csv:2: a" in out.output, out.output


@pytest.mark.slow
def test_load_model_takes_raw_values(tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    from netdsl.keras import features
    from netdsl.keras.compiler import build

    path = mixed_csv(tmp_path / "t.csv", rows=200)
    m = check(path)
    net = build(m)
    streams = _load(path)
    features.adapt(net, m.data.columns, streams.state)
    net.save(tmp_path / "m.keras")
    import keras

    again = keras.models.load_model(tmp_path / "m.keras")
    rows = {
        "size": np.array([[np.nan], [3.0]], np.float32),
        "arch": tf.constant([["all"], ["never-seen"]]),
        "priority": tf.constant([[""], ["required"]]),
        "description": tf.constant([["fast tool"], [""]]),
    }
    assert np.allclose(again.predict(rows, verbose=0), net.predict(rows, verbose=0))


# --- text files -----------------------------------------------------------------------------------


def text_folder(root: Path, files: int = 20) -> Path:
    rng = random.Random(0)
    for name, words in (("pos", WORDS_A), ("neg", WORDS_B)):
        (root / name).mkdir(parents=True)
        for i in range(files):
            text = " ".join(rng.choice(words) for _ in range(6)) + f" only{name}{i}"
            (root / name / f"{i:03d}.txt").write_text(text)
    return root


def test_text_files_are_described_from_the_folders_and_first_files(tmp_path: Path) -> None:
    root = text_folder(tmp_path / "reviews")
    m = netdsl.check(
        f'dataset: text_files("{root}")\ndense 8 relu -> dense 1 sigmoid', builtin_registry()
    )
    (column,) = m.data.columns
    assert (column.name, column.type, m.input_shape) == ("text", "text", (32,))
    assert m.data.class_names == ("neg", "pos") and m.data.target.kind == "binary"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: (root / "only").mkdir(parents=True), "holds 1 sub-folder"),
        (lambda root: root.parent.mkdir(exist_ok=True), "no such folder"),
    ],
    ids=["one-class", "missing"],
)
def test_text_files_bad_folders(tmp_path: Path, make: Any, message: str) -> None:
    root = tmp_path / "reviews"
    make(root)
    with pytest.raises(NetdslDataError) as info:
        netdsl.check(f'dataset: text_files("{root}")\ndense 1 sigmoid', builtin_registry())
    assert message in info.value.message


def _load_text(root: Path) -> Any:
    from netdsl_builtins.text_files import TEXT_FILES

    args = {p.name: p.default for p in TEXT_FILES.params}
    req = DataRequest("text_files", args, str(root))
    return TEXT_FILES.load(req, TEXT_FILES.describe(req))


def test_text_files_learn_words_from_the_training_files_only(tmp_path: Path) -> None:
    streams = _load_text(text_folder(tmp_path / "reviews"))
    vocabulary = set(streams.state["text"]["vocabulary"])
    train = {
        w.decode()
        for x, _ in streams.train(64, 0)
        for t in x["text"].numpy().ravel()
        for w in t.split()
    }
    test = {
        w.decode()
        for x, _ in streams.test(64)
        for t in x["text"].numpy().ravel()
        for w in t.split()
    }
    assert streams.train_size == 32 and streams.test_size == 8
    assert vocabulary == train and not vocabulary & (test - train)


def test_a_text_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    root = text_folder(tmp_path / "reviews", files=5)
    (root / "pos" / "bad.txt").write_bytes(b"caf\xe9 au lait")
    with pytest.raises(NetdslDataError) as info:
        _load_text(root)
    assert "bad.txt: not UTF-8" in info.value.message


# --- export ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_export_carries_the_preprocessing_to_savedmodel_and_refuses_onnx(tmp_path: Path) -> None:
    from netdsl.errors import NetdslExportError
    from netdsl.keras import features
    from netdsl.keras.compiler import build
    from netdsl.keras.export import export_model

    path = mixed_csv(tmp_path / "t.csv", rows=200)
    m = check(path)
    net = build(m)
    features.adapt(net, m.data.columns, _load(path).state)
    report = export_model(net, "savedmodel", tmp_path / "sm")
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    for fmt, name in (("onnx", "m.onnx"), ("litert", "m.tflite")):
        with pytest.raises(NetdslExportError) as info:
            export_model(net, fmt, tmp_path / name)
        assert "no string inputs" in info.value.message and "savedmodel" in (info.value.help or "")


def test_normalize_is_refused_for_a_typed_table(tmp_path: Path) -> None:
    path = mixed_csv(tmp_path / "t.csv")
    with pytest.raises(NetdslError) as info:
        netdsl.check(
            f'dataset: csv("{path}", label="y")\nnormalize: true\ndense 2 softmax',
            builtin_registry(),
        )
    assert "encoded inside the model" in info.value.message and info.value.span.line == 2


def test_a_text_cell_of_10_mb_is_read_and_counted(tmp_path: Path) -> None:
    """One 10 MB cell: `check` stops its sample before it (whole lines, about 8 KB), the pass
    counts its words (a line under the 16 M cap); inside the model the sequence is cut to the
    column's length."""
    path = mixed_csv(tmp_path / "t.csv", rows=60)
    lines = path.read_text().splitlines()
    big = " ".join(["fast"] * 2_000_000)  # 10 MB of words
    lines[30] = f"5,all,optional,{big},a"
    path.write_text("\n".join(lines) + "\n")
    (text,) = [c for c in check(path).data.columns if c.type == "text"]
    assert text.length == 8
    streams = _load(path)
    assert streams.state["description"]["vocabulary"][0] == "fast"


# --- the examples on real data (run here on a few packages written by the test) ---------------

PACKAGES = """Package: python3-foo
Installed-Size: 120
Maintainer: Debian Python Team <team@example.org>
Architecture: all
Depends: python3, python3-bar (>= 1)
Description: fast parser library for Python 3
 long text that is dropped
Section: python
Priority: optional

Package: libfoo1
Installed-Size: 300
Maintainer: Jane Doe <jane@example.org>
Architecture: amd64
Description: shared library for foo, a graph tool
Section: libs
Priority: optional
"""


def test_the_package_index_is_read_as_rows() -> None:
    import sys

    from conftest import EXAMPLES

    sys.path.insert(0, str(EXAMPLES / "data"))
    try:
        import debian_packages as deb
    finally:
        sys.path.pop(0)
    rows = [deb._row(p) for p in deb.stanzas(PACKAGES)]
    assert rows == [
        {
            "architecture": "all",
            "priority": "optional",
            "installed_kb": "120",
            "depends": "2",
            "maintainer": "Debian Python Team",
            "description": "fast parser library for Python 3",
            "section": "python",
        },
        {
            "architecture": "amd64",
            "priority": "optional",
            "installed_kb": "300",
            "depends": "",
            "maintainer": "Jane Doe",
            "description": "shared library for foo  a graph tool",
            "section": "libs",
        },
    ]


@pytest.mark.parametrize("name", ["packages", "package_text"])
def test_the_debian_examples_check_on_a_table_of_their_shape(tmp_path: Path, name: str) -> None:
    from conftest import EXAMPLES

    rng = random.Random(0)
    sections = ["libs", "libdevel", "python", "doc", "perl", "devel", "utils", "net"]
    rows = ["architecture,priority,installed_kb,depends,maintainer,description,section"]
    for i in range(200):
        words = " ".join(rng.choice(WORDS_A + WORDS_B) for _ in range(5))
        rows.append(
            f"{rng.choice(['amd64', 'all'])},optional,{rng.randint(1, 999)},"
            f"{rng.choice(['', '1', '3'])},team {i % 40},{words} {i},{sections[i % 8]}"
        )
    (tmp_path / "packages.csv").write_text("\n".join(rows) + "\n")
    for section in sections:
        (tmp_path / "text" / section).mkdir(parents=True)
        (tmp_path / "text" / section / "a.txt").write_text(f"{section} package of words")
    path = EXAMPLES / "data" / f"{name}.net"
    text = path.read_text()
    assert text.startswith("#") and "test accuracy" in text
    data = tmp_path / ("packages.csv" if name == "packages" else "text")
    m = netdsl.check(text, builtin_registry(), filename=str(path), data=str(data))
    assert m.data.target.num_classes == 8 and m.data.columns


def test_emit_refuses_a_typed_table_plainly(tmp_path: Path) -> None:
    from netdsl.errors import EmitError
    from netdsl.keras.emit import emit_program as emit

    with pytest.raises(EmitError) as info:
        emit(check(mixed_csv(tmp_path / "t.csv")))
    assert "description: text" in info.value.message and "netdsl run" in (info.value.help or "")


def test_a_file_over_the_memory_budget_is_decoded_each_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the budget nothing is held: each epoch decodes the text, every training row once,
    in an order seeded by the epoch."""
    import numpy as np

    from netdsl_builtins import typed_streams

    monkeypatch.setattr(typed_streams, "HELD_BYTES", 0)
    path = mixed_csv(tmp_path / "t.csv", rows=300)
    streams = _load(path)
    assert streams.record["streamed"] and not streams.record["cached_in_memory"]

    def epoch(seed: int) -> list[str]:
        return [
            t.decode() for x, _ in streams.train(32, seed) for t in x["description"].numpy().ravel()
        ]

    first, again, other = epoch(1), epoch(1), epoch(2)
    assert len(first) == streams.train_size and sorted(first) == sorted(other)
    assert first == again and first != other
    held = _load(path)  # the same rows when they are held in memory
    assert sorted(first) == sorted(
        t.decode() for x, _ in held.train(32, 0) for t in x["description"].numpy().ravel()
    )
    assert np.isclose(held.state["size"]["mean"], streams.state["size"]["mean"])
