"""A CSV whose training rows exceed the memory budget is spilled, decoded, to a private temporary
file and read back a window at a time each epoch: the same rows as in memory, each once per
epoch, in an order seeded by the run and the epoch; the folder is removed afterwards; a spill
that cannot be written falls back to decoding the text each epoch, with a warning. A tiny
``CACHE_BYTES`` makes tiny files take that path."""

from __future__ import annotations

import gc
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import builtin_registry
from datafiles import write_csv

import netdsl
from netdsl.errors import NetdslDataError
from netdsl_builtins import spill, tabular


@pytest.fixture()
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder spill files go to (apart from the user's data folder), a budget of
    1,000 bytes (so any test file spills) and chunks of 64 lines (several windows)."""
    where = tmp_path / "scratch"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    monkeypatch.setattr(tabular, "CACHE_BYTES", 1000)
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 64)
    return where


def _data(path: Path, extra: str = "", net: str = "dense 3 softmax") -> Any:
    from netdsl.keras.training import load_data

    return load_data(netdsl.check(f'dataset: csv("{path}"{extra})\n{net}', builtin_registry()))


def _epoch(data: Any, epoch: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    from netdsl.keras.training import EpochClock

    clock = EpochClock()
    clock.epoch = epoch
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.train(16, seed, clock)])
    return np.concatenate(xs), np.concatenate(ys)


def _sorted(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The (features, label) rows in a canonical order: the set of rows, to compare."""
    rows = np.concatenate([x, np.reshape(y, (len(y), -1)).astype(np.float32)], axis=1)
    return rows[np.lexsort(rows.T[::-1])]


def _memory_rows(
    path: Path, monkeypatch: pytest.MonkeyPatch, net: str = "dense 3 softmax"
) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(tabular, "CACHE_BYTES", 32 << 20)
        held = _data(path, net=net)
    assert held.streams.record["cached_in_memory"] is True
    return _sorted(*_epoch(held, 0))


@pytest.mark.slow
@pytest.mark.parametrize(
    "rows,task", [(3000, "names"), (1500, "reals")], ids=["classes", "regression"]
)
def test_spilled_epochs_read_the_in_memory_rows_once_each_in_a_seeded_order(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch, rows: int, task: str
) -> None:
    path = write_csv(tmp_path / "data" / "t.csv", rows, task=task)
    net = "dense 3 softmax" if task == "names" else "dense 1"
    expected = _memory_rows(path, monkeypatch, net)
    data = _data(path, net=net)
    spilled = data.streams.record["spilled"]
    assert data.streams.record["cached_in_memory"] is False and spilled is not None
    assert Path(spilled["path"]).parent.parent == scratch  # a private folder, not the data's
    assert Path(spilled["path"]).parent.name.startswith("netdsl-csv-")
    assert spilled["rows"] == data.train_size == len(expected)
    assert spilled["bytes"] == Path(spilled["path"]).stat().st_size == data.train_size * (4 + 1) * 4
    assert os.listdir(tmp_path / "data") == ["t.csv"], "nothing is written beside the user's file"
    x0, y0 = _epoch(data, 0)
    np.testing.assert_array_equal(_sorted(x0, y0), expected)  # every training row once, no other
    again = _epoch(data, 0)
    np.testing.assert_array_equal(
        x0, again[0]
    )  # the same epoch, the same order: what resuming needs
    np.testing.assert_array_equal(y0, again[1])
    x1, y1 = _epoch(data, 1)
    assert not np.array_equal(x0, x1), "each epoch has its own order"
    np.testing.assert_array_equal(_sorted(x1, y1), expected)
    assert not np.array_equal(x0, _epoch(data, 0, seed=8)[0]), "another run seed, another order"
    # each epoch starts with a whole window of the file, not always the same one: the windows
    # are visited in an order seeded by the epoch
    y_type = np.int32 if task == "names" else np.float32
    file_rows = np.fromfile(spilled["path"], [("x", np.float32, (4,)), ("y", y_type)])
    size = tabular.window_rows(4)
    windows = [
        np.sort(file_rows["x"][i : i + size], axis=0) for i in range(0, len(file_rows), size)
    ]
    assert len(windows) >= 3
    firsts = set()
    for epoch in range(6):
        x, _ = _epoch(data, epoch)
        firsts.add(
            next(
                k for k, w in enumerate(windows) if np.array_equal(np.sort(x[: len(w)], axis=0), w)
            )
        )
    assert len(firsts) > 1, "every epoch began with the same window"


@pytest.mark.slow
def test_spilled_and_text_paths_train_on_the_same_rows(tmp_path: Path, scratch: Path) -> None:
    path = write_csv(tmp_path / "t.csv", 2000)
    spilled, text = _data(path), _data(path, ", spill=false")
    assert spilled.streams.record["spilled"] is not None
    assert text.streams.record["spilled"] is None and text.streams.record["spill_failed"] is None
    assert os.listdir(scratch) == [spilled.streams.record["spilled"]["path"].split(os.sep)[-2]]
    np.testing.assert_array_equal(_sorted(*_epoch(spilled, 0)), _sorted(*_epoch(text, 0)))
    got = [np.concatenate([y.numpy() for _, y in d.test(100)]) for d in (spilled, text)]
    np.testing.assert_array_equal(*got)  # the test rows are read from the text either way


@pytest.mark.slow
def test_the_spill_folder_is_removed_when_the_data_is_released(
    tmp_path: Path, scratch: Path
) -> None:
    data = _data(write_csv(tmp_path / "t.csv", 1000))
    folder = Path(data.streams.record["spilled"]["path"]).parent
    _epoch(data, 0)
    assert folder.is_dir()
    del data
    gc.collect()
    assert not folder.exists() and os.listdir(scratch) == []


def _no_folder(prefix: str = "", **_: Any) -> str:
    raise OSError(28, "No space left on device")


@pytest.mark.slow
def test_no_spill_folder_falls_back_to_the_text_with_a_warning(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "t.csv", 1500)
    expected = _memory_rows(path, monkeypatch)
    monkeypatch.setattr(spill.tempfile, "mkdtemp", _no_folder)
    with pytest.warns(
        RuntimeWarning,
        match=r"cannot write the decoded rows of t\.csv to a temporary file "
        r"\(OSError: .*No space left on device\); reading the CSV text again",
    ):
        data = _data(path)
    record = data.streams.record
    assert record["spilled"] is None and "No space left on device" in record["spill_failed"]
    assert record["streamed"] is True and record["cached_in_memory"] is False
    x0, y0 = _epoch(data, 0)
    np.testing.assert_array_equal(_sorted(x0, y0), expected)
    np.testing.assert_array_equal(x0, _epoch(data, 0)[0])


@pytest.mark.slow
def test_a_disk_that_fills_while_spilling_falls_back_and_leaves_nothing(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(tmp_path / "t.csv", 1500)
    real = spill.Spill.append
    calls = []

    def append(self: spill.Spill, x: np.ndarray, y: np.ndarray) -> None:
        calls.append(len(x))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(self, x, y)

    monkeypatch.setattr(spill.Spill, "append", append)
    with pytest.warns(RuntimeWarning, match="reading the CSV text again each epoch"):
        data = _data(path)
    assert len(calls) == 3 and os.listdir(scratch) == [], (
        "the half-written spill is removed at once"
    )
    assert data.streams.record["spilled"] is None
    assert len(_epoch(data, 0)[0]) == data.train_size


def test_spill_false_never_makes_a_folder(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_: Any) -> str:
        raise AssertionError("spill=false must not make a temporary folder")

    monkeypatch.setattr(spill.tempfile, "mkdtemp", refuse)
    data = _data(write_csv(tmp_path / "t.csv", 500), ", spill=false")
    assert data.streams.record["spilled"] is None and data.streams.record["streamed"] is True


def test_a_bad_row_after_the_spill_began_leaves_no_folder(tmp_path: Path, scratch: Path) -> None:
    path = write_csv(tmp_path / "t.csv", 1000)
    with open(path, "a") as f:
        f.write("1,2,x,4,setosa\n")
    with pytest.raises(NetdslDataError, match="`x` in column `f2` is not a number") as info:
        _data(path)
    assert info.value.span.line == 1002
    gc.collect()
    assert os.listdir(scratch) == []


@pytest.mark.slow
def test_a_run_records_the_spill_in_data_json(tmp_path: Path, scratch: Path) -> None:
    from netdsl.run.driver import run_model

    path = write_csv(tmp_path / "t.csv", 800)
    m = netdsl.check(
        f'dataset: csv("{path}")\nepochs: 1\nseed: 1\ndense 3 softmax', builtin_registry()
    )
    report = run_model(m, out_dir=tmp_path / "runs", quiet=True)
    record = json.loads((report.folder / "data.json").read_text())
    assert record["spilled"]["rows"] == record["train_size"]
    assert record["spilled"]["bytes"] == record["train_size"] * 5 * 4
    assert record["spilled"]["path"].startswith(str(scratch))
    assert "visited in an order seeded by the epoch's seed" in record["order"]


def test_spill_file_round_trips_rows(scratch: Path) -> None:
    s = spill.Spill(3, np.int32)
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10, dtype=np.int32)
    s.append(x[:4], y[:4])
    s.append(x[4:], y[4:])
    s.finish()
    got_x, got_y = s.read(2, 5)
    np.testing.assert_array_equal(got_x, x[2:7])
    np.testing.assert_array_equal(got_y, y[2:7, None])
    assert got_x.flags.c_contiguous and got_y.dtype == np.int32 and s.bytes == 10 * 16
    folder = s.folder
    s.remove()
    assert s.removed and not folder.exists()


def _blank_crlf(path: Path) -> None:
    """Blank lines (LF, CRLF, spaces) among CRLF rows, no line end at the end of the file."""
    text = path.read_text().replace("\n", "\r\n")
    rows = text.split("\r\n")
    for at in (3, 40, 41, 100):
        rows.insert(at, ["", " ", "\t", ""][at % 4])
    path.write_text("\r\n".join(rows).rstrip("\r\n"), newline="")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rows", "extra", "edit"),
    [
        (150, "", None),
        (300, ", seed=9, test_split=0.5", None),  # several chunks of 64 lines
        (200, ", seed=4294967295", _blank_crlf),
    ],
    ids=["iris-size", "chunks-seed", "blank-crlf"],
)
def test_check_knows_the_split_sizes_training_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int, extra: str, edit: Any
) -> None:
    """Issue 20: a small CSV's rows on each side of its test split are counted by ``check``
    (TensorFlow's seeded draw replayed in NumPy) and are the ones training reads."""
    monkeypatch.setattr(tabular, "CHUNK_ROWS", 64)
    path = write_csv(tmp_path / "t.csv", rows)
    if edit is not None:
        edit(path)
    model = netdsl.check(f'dataset: csv("{path}"{extra})\ndense 3 softmax', builtin_registry())
    data = _data(path, extra)
    assert (model.data.train_size, model.data.test_size) == (data.train_size, data.test_size)
    assert model.sizes.train == data.train_size and model.steps_per_epoch == -(
        -data.train_size // 32
    )


def test_check_refuses_a_csv_whose_split_leaves_no_test_rows(tmp_path: Path) -> None:
    """What training refused after loading, ``check`` refuses: three rows, none drawn for test."""
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n1,2,x\n3,4,z\n")
    with pytest.raises(NetdslDataError, match="the split leaves 2 training and 0 test rows"):
        netdsl.check(f'dataset: csv("{path}")\ndense 2 softmax', builtin_registry())


def test_the_draws_are_tensorflows() -> None:
    tf = pytest.importorskip("tensorflow")
    from netdsl_builtins.draws import below, stateless_uniform

    for n, seed in ((10, (0, 0)), (4097, (7, 3)), (5, (2**32 - 1, 12)), (0, (1, 1))):
        expected = tf.random.stateless_uniform([n], seed=tf.constant(seed, tf.int64)).numpy()
        np.testing.assert_array_equal(np.float32(stateless_uniform(n, seed)), expected)
        for threshold in (0.2, 0.5, 0.9):
            assert below(n, seed, threshold) == int(np.sum(expected < np.float32(threshold)))
