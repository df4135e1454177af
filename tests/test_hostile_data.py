"""Hostile data files (issue 27) and data items of issue 20: each file is made small, here, and
must come out as a ``NetdslDataError`` naming it (never a traceback, a plugin fault or a "Graph
execution error"), at a cost bounded by what the file honestly holds; and check and training
must read a file the same way. The full adversarial run is ``bench/fuzz_data.py``."""

from __future__ import annotations

import os
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import builtin_registry

import netdsl
from netdsl.errors import NetdslDataError, NetdslError
from netdsl.keras import datafiles
from netdsl.keras.predict import NetdslInputError, read_inputs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import hostile_files as hf


def _check(program: str, data: Path | None = None) -> Any:
    return netdsl.check(program, builtin_registry(), data=str(data) if data else None)


def _refused(program: str, data: Path | None = None) -> NetdslError:
    with pytest.raises(NetdslError) as info:
        _check(program, data)
    errors = info.value.errors
    assert len(errors) == 1, [e.message for e in errors]
    return errors[0]


CSV_PROGRAM = "dataset: csv\ndense 2 softmax\n"
NPZ_PROGRAM = "dataset: npz\ndense 3 softmax\n"


# --- npz: check (describe) ---------------------------------------------------------------------

NPZ_FAULTS: dict[str, tuple[Callable[[Path], object], str]] = {
    "object-array": (hf.MAKERS["npz-object"][1], "array of Python objects"),
    "corrupt-deflate": (hf.npz_corrupt_deflate, "`y` cannot be read"),
    "unknown-compression": (hf.npz_with_compression, "compression method 99"),
    "0-d-arrays": (hf.MAKERS["npz-0d"][1], "a single value (a 0-d array)"),
    "string-labels": (hf.MAKERS["npz-string-labels"][1], "holds text labels"),
    "declares-more-than-it-holds": (
        lambda p: hf.npz_declaring(
            p, {"x": hf.npy_declaring((10**9 // 8,)), "y": hf.npy_bytes(np.arange(3))}
        ),
        "declares 1.0 GB",
    ),
    "no-examples": (
        lambda p: np.savez(p, x=np.zeros((0, 2)), y=np.zeros(0, np.int64)),
        "holds no examples",
    ),
}


@pytest.mark.parametrize("case", list(NPZ_FAULTS))
def test_an_npz_fault_is_a_data_error_naming_the_file(tmp_path: Path, case: str) -> None:
    make, fragment = NPZ_FAULTS[case]
    path = tmp_path / "data.npz"
    make(path)
    err = _refused(NPZ_PROGRAM, path)
    assert isinstance(err, NetdslDataError) and err.code == "NDL100", (err.code, err.message)
    assert str(path) in err.message and fragment in err.message


def test_an_npz_that_expands_like_a_bomb_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datafiles, "RATIO_FREE_BYTES", 1 << 20)  # a 4 MB bomb stands for a 3 GB one
    path = hf.npz_of_zeros(tmp_path / "bomb.npz", 4 << 20)
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        err = _refused(NPZ_PROGRAM, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "over 100x: refused unread" in err.message and str(path) in err.message
    assert peak < 1 << 20, f"{peak:,} bytes traced while refusing"


def test_check_reads_the_labels_in_blocks_never_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((300, 2), np.float32), y=np.arange(300) % 3)

    def whole(*args: Any) -> None:
        raise AssertionError("check read an array whole")

    monkeypatch.setattr(datafiles.Npz, "_read", whole)
    blocks: list[int] = []
    real = datafiles.Npz.blocks
    monkeypatch.setattr(
        datafiles.Npz,
        "blocks",
        lambda self, name, rows=1 << 16: (blocks.append(1), real(self, name, 64))[1],
    )
    m = _check(NPZ_PROGRAM, path)
    assert m.data.target.num_classes == 3 and blocks


def test_npz_labels_read_by_check_and_training_agree(tmp_path: Path) -> None:
    from netdsl.vocab.components import DataRequest
    from netdsl_builtins.tabular import load_npz

    path = tmp_path / "d.npz"
    y = np.eye(4, dtype=np.float32)[np.arange(40) % 4]  # one-hot rows
    np.savez(path, x=np.random.default_rng(0).random((40, 5)), y=y)
    m = _check("dataset: npz\ndense 4 softmax\n", path)
    assert m.data.target.num_classes == 4
    request = DataRequest("npz", {"task": "auto", "test_split": 0.25, "seed": 1}, str(path))
    x_train, y_train, _x_test, y_test = load_npz(request, m.data)
    assert x_train.shape == (30, 5) and sorted(set(y_train) | set(y_test)) == [0, 1, 2, 3]


def test_grey_images_in_an_npz_behave_as_mnist_delivers_them(tmp_path: Path) -> None:
    """(N, 8, 8) uint8 is N grey pictures: input 8x8x1, scaled to [0, 1], so `dense` works
    as it does on `dataset: mnist` (issue 20)."""
    from netdsl.vocab.components import DataRequest
    from netdsl_builtins.tabular import load_npz

    rng = np.random.default_rng(0)
    path = tmp_path / "digits.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (30, 8, 8), dtype=np.uint8),
        y_train=np.arange(30) % 10,
        x_test=rng.integers(0, 256, (10, 8, 8), dtype=np.uint8),
        y_test=np.arange(10),
    )
    m = _check("dataset: npz\ndense 64 relu -> dense 10 softmax\n", path)
    assert m.input_shape == (8, 8, 1)
    x_train, _, x_test, _ = load_npz(DataRequest("npz", {"task": "auto"}, str(path)), m.data)
    assert x_train.shape == (30, 8, 8, 1) and x_train.dtype == np.float32
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0 and x_test.shape == (10, 8, 8, 1)


# --- CSV ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["\u0661", "1_0", "0x10", "1e39"],
    ids=["arabic-indic-digit", "underscore", "hexadecimal", "past-float32"],
)
def test_a_cell_training_cannot_read_is_refused_by_check(tmp_path: Path, cell: str) -> None:
    """One number grammar: what TensorFlow's decode_csv reads (as float32) and nothing more."""
    path = tmp_path / "t.csv"
    path.write_text(f"a,b,label\n{cell},2,x\n3,4,y\n", encoding="utf-8")
    err = _refused(CSV_PROGRAM, path)
    assert (
        err.code == "NDL101" and err.span is not None and (err.span.line, err.span.column) == (2, 1)
    )
    assert f"`{cell}`" in err.message and (
        "not a number" in err.message or "not a finite" in err.message
    )


@pytest.mark.parametrize("text", ["1", "-2.5", ".5", "5.", "1e5", "+1E-3", " 7 ", "00012"])
def test_the_number_grammar_reads_what_tensorflow_reads(text: str) -> None:
    assert datafiles.parse_number(text) == float(text)


def test_cr_only_line_ends_are_refused_as_training_would_misread_them(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b"a,b,label\r1,2,x\r3,4,y\r")
    err = _refused(CSV_PROGRAM, path)
    assert (
        "carriage return" in err.message
        and str(path) in err.message
        and "tr '\\r'" in (err.help or "")
    )
    with pytest.raises(NetdslDataError, match="carriage return"):
        datafiles.scan_lines(path)
    crlf = tmp_path / "dos.csv"
    crlf.write_bytes(b"a,b,label\r\n" + b"1,2,x\r\n3,4,y\r\n" * 5)  # rows for both splits
    assert _check(CSV_PROGRAM, crlf).data.target.num_classes == 2
    assert datafiles.scan_lines(crlf) == 12


def test_a_cell_over_pythons_csv_field_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("a,b,label\n" + "x" * 200_000 + ",2,p\n" + "3,4,q\n" * 20)
    m = _check(CSV_PROGRAM, path)  # the sample is that one row: `a` holds a category
    assert [(c.name, c.type) for c in m.data.columns] == [("a", "category"), ("b", "number")]


def test_a_wide_header_is_checked_in_linear_time(tmp_path: Path) -> None:
    """Before: the duplicate-name test compared each column with all before it (30,000 columns
    took 34.6 s); with a set, 100,000 columns take well under a second."""
    path = tmp_path / "wide.csv"
    n = 100_000
    path.write_text(
        ",".join(f"c{i}" for i in range(n))
        + "\n"
        + "".join(",".join(["1"] * (n - 1) + [f"{v}.5"]) + "\n" for v in range(3))
    )  # rows enough for a training and a test side
    start = time.perf_counter()
    m = _check("dataset: csv\ndense 1\n", path)
    assert m.input_shape == (n - 1,)
    assert time.perf_counter() - start < 10


@pytest.mark.parametrize(
    "tail, message",
    [
        (None, "line 2 holds a NUL byte"),
        ("1" * (3 << 20), "line 2 is longer than 1,048,576 characters"),
    ],
    ids=["sparse-2GB", "long-line"],
)
def test_a_huge_line_is_refused_after_reading_a_bounded_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: str | None, message: str
) -> None:
    """`printf 'a,b,label\\n' > f.csv; truncate -s 2G f.csv`: check reads one piece of the line
    (it used to peak at 4.2 GB); a line of text stops at the cap."""
    monkeypatch.setattr(datafiles, "MAX_LINE_CHARS", 1 << 20)
    path = tmp_path / "big.csv"
    path.write_text("a,b,label\n" + (tail or ""))
    if tail is None:
        os.truncate(path, 2 << 30)  # sparse: no disk used
    tracemalloc.start()
    try:
        err = _refused(CSV_PROGRAM, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message in err.message and str(path) in err.message
    assert peak < (1 << 20 if tail is None else 8 << 20), f"{peak:,} bytes traced"
    with pytest.raises(
        NetdslDataError, match=message.split(" characters")[0].replace("line 2 ", "")
    ):
        datafiles.scan_lines(path)


def test_the_training_scan_finds_a_long_line_past_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datafiles, "_BLOCK", 1024)
    monkeypatch.setattr(datafiles, "MAX_LINE_CHARS", 4096)
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n" + "1,2,x\n" * 3000 + "1," + "9" * 5000 + ",y\n" + "1,2,x\n")
    with pytest.raises(NetdslDataError, match="line 3002 is longer than 4,096"):
        datafiles.scan_lines(path)
    path.write_text("a,b,label\n" + "1,2,x\n" * 3000)
    assert datafiles.scan_lines(path) == 3002


# --- CSV labels (issue 20) ---------------------------------------------------------------------


def _label_csv(path: Path, labels: list[str]) -> Path:
    rng = np.random.default_rng(0)
    path.write_text(
        "a,b,y\n" + "".join(f"{rng.random():.4f},{rng.random():.4f},{v}\n" for v in labels)
    )
    return path


def test_whole_numbers_written_as_reals_are_regression(tmp_path: Path) -> None:
    """The diabetes table: `151.0`, `75.0` ... is a score, not 347 classes."""
    rng = np.random.default_rng(1)
    path = _label_csv(tmp_path / "d.csv", [f"{float(v):.1f}" for v in rng.integers(25, 347, 442)])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        m = _check("dataset: csv\ndense 8 relu -> dense 1\n", path)
    assert m.data.target.kind == "regression"
    assert any(
        "written as real numbers" in str(w.message) and "task=classes" in str(w.message)
        for w in seen
    )


def test_so_many_distinct_whole_numbers_are_regression_with_a_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = _label_csv(tmp_path / "d.csv", [str(v) for v in rng.integers(25, 347, 442)])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        m = _check("dataset: csv\ndense 1\n", path)
    assert m.data.target.kind == "regression"
    [note] = [str(w.message) for w in seen if "distinct whole numbers" in str(w.message)]
    assert "give task=classes" in note
    m = _check('dataset: csv(task="classes")\ndense 347 softmax\n', path)
    assert m.data.target.kind == "classes"


@pytest.mark.parametrize(
    "labels, kind",
    [
        ([str(i % 10) for i in range(200)], "classes"),
        ([str(i % 2) for i in range(50)], "binary"),
        ([str(i) for i in range(6)], "classes"),  # few rows: every class once, still classes
        ([str(i % 30) for i in range(300)], "classes"),  # 30 classes of 10 rows
        (["0.5", "1.5"] * 10, "regression"),
    ],
    ids=["ten-digits", "zero-one", "tiny-table", "thirty-classes", "fractions"],
)
def test_a_label_of_few_classes_stays_classes(tmp_path: Path, labels: list[str], kind: str) -> None:
    from netdsl.vocab.components import DataRequest
    from netdsl_builtins.tabular import read_layout

    path = _label_csv(tmp_path / "d.csv", labels)
    layout = read_layout(DataRequest("csv", {"task": "auto"}, str(path)))
    assert layout.target.kind == kind and not layout.note


# --- not regular files ------------------------------------------------------------------------


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "program",
    [
        CSV_PROGRAM,
        NPZ_PROGRAM,
        "dataset: images\ninput: 8x8x1\ndense 2 softmax\n",
        "dataset: boston_housing\ndense 1\n",
    ],
    ids=["csv", "npz", "images", "keras-npz"],
)
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_a_device_or_fifo_is_named_for_what_it_is(
    tmp_path: Path, fifo: Path, program: str, special: str
) -> None:
    path = fifo if special == "fifo" else Path("/dev/zero")
    err = _refused(program, path) if "boston" not in program else None
    if err is None:  # keras datasets find their file at load
        from netdsl.keras.training import load_data

        with pytest.raises(NetdslDataError) as info:
            load_data(_check(program, path), path)
        err = info.value
    want = "a FIFO (named pipe)" if special == "fifo" else "a character device"
    assert want in err.message and "folder" not in err.message.split(want)[0], err.message


def test_mnist_given_a_fifo_says_so(fifo: Path) -> None:
    from netdsl_builtins.mnist_files import load_mnist

    with pytest.raises(NetdslDataError, match=r"is a FIFO \(named pipe\); expected a folder"):
        load_mnist(fifo)


# --- predict inputs ---------------------------------------------------------------------------

PREDICT_FAULTS: dict[str, tuple[str, Callable[[Path], object], str]] = {
    "npz-object": (".npz", hf.MAKERS["npz-object"][1], "array of Python objects"),
    "npz-corrupt-deflate": (".npz", hf.npz_corrupt_deflate, "cannot be read: error"),
    "npz-declares-1e9": (".npz", hf.MAKERS["npz-declares-1e9"][1], "declares 1.0 GB"),
    "npy-declares-1e9": (".npy", hf.MAKERS["npy-declares-1e9"][1], "declares 1.0 GB"),
    "csv-long-cell": (
        ".csv",
        lambda p: p.write_text("1,2\n" + "q" * 200_000 + ",2\n"),
        "is not a number",
    ),
    "csv-arabic-digit": (".csv", lambda p: p.write_text("1,2\n\u0661,2\n"), "is not a number"),
    "png-20000x20000": (".png", hf.MAKERS["png-20000x20000"][1], "20,000x20,000 pixels"),
    "gif-65535": (".gif", hf.MAKERS["gif-65535"][1], "65,535x65,535 pixels"),
    "png-truncated": (".png", hf.MAKERS["png-truncated"][1], "a truncated PNG"),
    "png-empty": (".png", hf.MAKERS["png-empty"][1], "an empty file"),
    "fifo": ("", lambda p: os.mkfifo(p), "is a FIFO (named pipe)"),
}


@pytest.mark.parametrize("case", list(PREDICT_FAULTS))
def test_a_hostile_predict_input_is_an_input_error_naming_it(tmp_path: Path, case: str) -> None:
    suffix, make, fragment = PREDICT_FAULTS[case]
    path = tmp_path / f"input{suffix}"
    make(path)
    with pytest.raises(NetdslInputError) as info:
        read_inputs([str(path)], (8, 8, 1) if suffix in (".png", ".gif") else (2,))
    assert info.value.code == "NDL120" and str(path) in info.value.message
    assert fragment in info.value.message, info.value.message


def test_predict_scales_uint8_pixels_as_training_did(tmp_path: Path) -> None:
    path = tmp_path / "digits.npy"
    np.save(path, np.full((3, 8, 8), 255, np.uint8))
    examples = read_inputs([str(path)], (8, 8, 1))
    assert len(examples) == 3 and examples[0].x.max() == 1.0 and "scaled" in examples[0].note


# --- images ------------------------------------------------------------------------------------

IMAGE_FAULTS: dict[str, tuple[str, bytes, str]] = {
    "png-2^30": (".png", hf.png_declaring(1 << 30, 1 << 30, b"x"), "over the limit"),
    "gif-65535": (".gif", hf.gif_declaring(65535, 65535), "65,535x65,535"),
    "bmp-60000": (".bmp", hf.bmp_declaring(60000, 60000), "a truncated BMP"),
    "png-cut": (".png", hf.zero_png(64, 64)[:-30], "a truncated PNG"),
    "png-no-iend": (".png", hf.png_declaring(8, 8, b"x", end=False), "a truncated PNG"),
    "empty": (".png", b"", "an empty file"),
    "gif-no-trailer": (".gif", hf.gif_declaring(8, 8)[:-1], "a truncated GIF"),
}


@pytest.mark.parametrize("case", list(IMAGE_FAULTS))
def test_an_image_header_is_checked_before_decoding(tmp_path: Path, case: str) -> None:
    suffix, content, fragment = IMAGE_FAULTS[case]
    path = tmp_path / f"p{suffix}"
    path.write_bytes(content)
    with pytest.raises(NetdslDataError) as info:
        datafiles.image_size(path)
    assert str(path) in info.value.message and fragment in info.value.message


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "JPEG"])
def test_a_valid_image_header_gives_its_size(tmp_path: Path, fmt: str) -> None:
    from PIL import Image

    path = tmp_path / f"p.{fmt.lower()}"
    Image.new("RGB", (13, 7), (10, 200, 30)).save(path, fmt)
    assert datafiles.image_size(path) == (13, 7)


@pytest.mark.slow
@pytest.mark.parametrize(
    "fmt, color",
    [
        ("GIF", "grayscale"),
        ("BMP", "grayscale"),
        ("GIF", "rgba"),
        ("PNG", "grayscale"),
        ("PNG", "rgb"),
    ],
)
def test_every_format_decodes_in_every_colour_mode(tmp_path: Path, fmt: str, color: str) -> None:
    """TensorFlow has no grey mode for GIF or BMP: a valid GIF with color=grayscale was called
    damaged."""
    from PIL import Image

    from netdsl.keras.training import load_data

    for split in ("train", "test"):
        for cls, shade in (("dark", 20), ("light", 230)):
            folder = tmp_path / "p" / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (6, 6), (shade, shade, shade)).save(
                    folder / f"{i}.{fmt.lower()}", fmt
                )
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color]
    folder = tmp_path / "p"
    m = _check(
        f'dataset: images("{folder}", size=6x6, color={color})\nflatten -> dense 2 softmax\n'
    )
    data = load_data(m)
    x, y = next(iter(data.streams.test(6)))
    assert tuple(x.shape) == (6, 6, 6, channels)
    light = x.numpy()[y.numpy() == 1]
    assert abs(float(light[..., :3].mean()) - 230 / 255) < 0.02
    if channels == 4:
        assert float(x.numpy()[..., 3].min()) == 1.0


@pytest.mark.parametrize("where", ["npy", "npz-member"])
def test_an_npy_header_length_is_checked_before_numpy_allocates_it(
    tmp_path: Path, where: str
) -> None:
    """Found by bench/fuzz_data.py: a 150-byte .npy whose header-length field says 662 MB made
    NumPy allocate 662 MB before its own header limit applied."""
    import struct

    raw = b"\x93NUMPY\x02\x00" + struct.pack("<I", 662_372_470) + b"{'descr': '<f8'}"
    path = tmp_path / "x.npy"
    path.write_bytes(raw)
    if where == "npz-member":
        path = hf.npz_declaring(tmp_path / "x.npz", {"x": raw, "y": hf.npy_bytes(np.arange(3))})
    tracemalloc.start()
    try:
        with pytest.raises(NetdslInputError) as info:
            read_inputs([str(path)], (3,))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        "declares a 662,372,470-byte array header" in info.value.message
        and str(path) in info.value.message
    )
    assert peak < 1 << 20, f"{peak:,} bytes traced"


@pytest.mark.slow
def test_grey_images_in_an_npz_train_with_dense_layers(tmp_path: Path) -> None:
    """Issue 20: `dense 64 relu -> dense 10 softmax` on (N, 8, 8) uint8, as on `dataset: mnist`."""
    from netdsl.keras.training import load_data, train

    rng = np.random.default_rng(0)
    path = tmp_path / "digits.npz"
    np.savez(path, x=rng.integers(0, 256, (60, 8, 8), dtype=np.uint8), y=np.arange(60) % 10)
    m = _check("dataset: npz\nepochs: 1\nbatch_size: 16\ndense 64 relu -> dense 10 softmax\n", path)
    data = load_data(m, path)
    assert data.x_train.shape[1:] == (8, 8, 1) and float(data.x_train.max()) <= 1.0
    train(m, data, verbose=0)


CELLS = [
    "1",
    "+1",
    "-1",
    ".5",
    "5.",
    "1e5",
    "1E+5",
    "1e",
    "e5",
    "inf",
    "-inf",
    "Infinity",
    "nan",
    "0x10",
    "1_0",
    "\u0661",
    " 1",
    "1 ",
    "1.5.2",
    "00012",
    "1d",
    "+.5e-3",
    "1e39",
    "-3e38",
    "0.0f",
    "\u00a01",
    "\uff11",
    "1,5",
]


def test_the_number_grammar_is_the_documented_pattern() -> None:
    for cell in CELLS:
        assert (datafiles.parse_number(cell) is not None) == bool(
            datafiles._NUMBER.fullmatch(cell.strip(" \t"))
        ), cell


@pytest.mark.slow
def test_what_check_reads_as_a_number_training_reads_alike() -> None:
    """Check ok means it runs: every cell the Python side accepts, TensorFlow's decode_csv reads
    as the same float32 (the reverse need not hold: hexadecimal is refused by check)."""
    import tensorflow as tf

    for cell in CELLS:
        mine = datafiles.parse_number(cell)
        if mine is None:
            continue
        quoted = f'"{cell}"' if "," in cell else cell
        value = tf.io.decode_csv(tf.constant([quoted + ",0"]), [tf.constant([], tf.float32)] * 2)[0]
        theirs = float(value.numpy()[0])
        assert (np.isnan(theirs) and np.isnan(mine)) or theirs == np.float32(mine), cell


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["\u0661", "1_0"], ids=["arabic-indic-digit", "underscore"])
def test_a_cell_training_cannot_read_past_the_sample_is_named_at_load(
    tmp_path: Path, cell: str
) -> None:
    """Past the 8 KB check reads, TensorFlow's pass fails on the cell; Python then finds it with
    the same number grammar (with `float`, it called the file fine and pointed at no row)."""
    from netdsl.keras.training import load_data

    rows = [f"{i % 7}.5000,{i % 3}.0000,{'ab'[i % 2]}" for i in range(900)]  # row 700 past 8 KB
    rows[700] = f"{cell},1,a"
    path = tmp_path / "late.csv"
    path.write_text("x,z,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    m = _check(CSV_PROGRAM, path)
    with pytest.raises(NetdslDataError) as info:
        load_data(m, path)
    err = info.value
    assert err.code == "NDL101" and err.span is not None and err.span.line == 702, err.message
    assert f"`{cell}`" in err.message


def test_the_line_scan_names_the_line_of_the_bare_carriage_return(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"a,b,label\r\n1,2,x\r\n3,4,y\r\n5,6\r7,x\n")
    with pytest.raises(NetdslDataError, match="line 4 holds a carriage return"):
        datafiles.scan_lines(path)
