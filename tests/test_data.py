"""The MNIST loader (netdsl.data) and the ``mnist`` dataset plugin, on small files written here."""

from __future__ import annotations

import gzip
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datafiles import REAL_MNIST

from netdsl.errors import NetdslDataError
from netdsl_builtins import mnist_files as data
from netdsl_builtins.mnist_files import IDX_FILES, MnistArrays, load_mnist

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NETDSL_MNIST, an empty Keras home, no download, no cached arrays from another test."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home").mkdir()

    def no_download() -> None:
        pytest.fail("test tried to download MNIST")  # BaseException: load_mnist cannot wrap it

    monkeypatch.setattr(data, "download_mnist", no_download)
    data.clear_cache()


def write_idx(
    path: Path,
    array: np.ndarray,
    *,
    magic: bytes | None = None,
    dims: tuple[int, ...] | None = None,
    extra: bytes = b"",
    cut: int = 0,
) -> Path:
    """Write ``array`` as an IDX file (gzip if the name ends in .gz), optionally damaged."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    dims = array.shape if dims is None else dims
    magic = bytes((0, 0, 0x08, len(dims))) if magic is None else magic
    body = magic + struct.pack(f">{len(dims)}I", *dims) + array.tobytes() + extra
    if cut:
        body = body[:-cut]
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return path


def fake_mnist(n_train: int = 12, n_test: int = 5, seed: int = 0) -> MnistArrays:
    """Small random MNIST-shaped arrays."""
    rng = np.random.default_rng(seed)
    return MnistArrays(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def write_idx_folder(folder: Path, arrays: MnistArrays, *, gz: bool = True) -> Path:
    """The four IDX files of ``arrays`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_FILES.items():
        write_idx(folder / (name + (".gz" if gz else "")), getattr(arrays, key))
    return folder


def write_npz(path: Path, arrays: MnistArrays | dict[str, np.ndarray]) -> Path:
    """``arrays`` as a Keras-style ``mnist.npz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **(arrays._asdict() if isinstance(arrays, MnistArrays) else arrays))
    return path


def assert_same(got: MnistArrays, want: MnistArrays) -> None:
    """Equal arrays, all uint8."""
    for key in data.KEYS:
        g, w = getattr(got, key), getattr(want, key)
        assert g.dtype == np.uint8, key
        np.testing.assert_array_equal(g, w, err_msg=key)


# ---------------------------------------------------------------- where it loads from


def test_folder_of_gz_idx_files(tmp_path: Path) -> None:
    want = fake_mnist()
    assert_same(load_mnist(write_idx_folder(tmp_path / "m", want)), want)


def test_folder_of_raw_idx_files(tmp_path: Path) -> None:
    want = fake_mnist(seed=1)
    assert_same(load_mnist(str(write_idx_folder(tmp_path / "m", want, gz=False))), want)


def test_npz_file(tmp_path: Path) -> None:
    want = fake_mnist(seed=2)
    assert_same(load_mnist(write_npz(tmp_path / "anything.npz", want)), want)


def test_folder_holding_npz(tmp_path: Path) -> None:
    want = fake_mnist(seed=3)
    write_npz(tmp_path / "m" / "mnist.npz", want)
    assert_same(load_mnist(tmp_path / "m"), want)


def test_netdsl_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = fake_mnist(seed=4)
    monkeypatch.setenv("NETDSL_MNIST", str(write_idx_folder(tmp_path / "m", want)))
    assert_same(load_mnist(), want)


def test_argument_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env, arg = fake_mnist(seed=5), fake_mnist(seed=6)
    monkeypatch.setenv("NETDSL_MNIST", str(write_idx_folder(tmp_path / "env", env)))
    assert_same(load_mnist(write_npz(tmp_path / "arg.npz", arg)), arg)


def test_env_beats_keras_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env, cached = fake_mnist(seed=7), fake_mnist(seed=8)
    write_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", cached)
    monkeypatch.setenv("NETDSL_MNIST", str(write_npz(tmp_path / "env.npz", env)))
    assert_same(load_mnist(), env)


def test_keras_cache_honours_keras_home(tmp_path: Path) -> None:
    want = fake_mnist(seed=9)
    write_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", want)
    assert_same(load_mnist(), want)


def test_keras_cache_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    want = fake_mnist(seed=10)
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    write_npz(tmp_path / "home" / ".keras" / "datasets" / "mnist.npz", want)
    assert_same(load_mnist(), want)


def test_download_is_last_resort_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    want = fake_mnist(seed=11)
    monkeypatch.setattr(data, "download_mnist", lambda: tuple(want))
    assert_same(load_mnist(), want)


def test_bad_download_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = fake_mnist(seed=12)._replace(y_test=np.array([1, 2, 3, 4, 10]))
    monkeypatch.setattr(data, "download_mnist", lambda: tuple(bad))
    with pytest.raises(NetdslDataError, match=r"load_data\(\).*y_test: label 10 at index 4"):
        load_mnist()


def test_user_path_never_falls_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_npz(tmp_path / "keras_home" / "datasets" / "mnist.npz", fake_mnist())
    monkeypatch.setenv("NETDSL_MNIST", str(tmp_path / "missing"))
    with pytest.raises(NetdslDataError, match="NETDSL_MNIST=.*missing.*no such file"):
        load_mnist()


def test_uncompressed_preferred_when_both_present(tmp_path: Path) -> None:
    raw, gz = fake_mnist(seed=13), fake_mnist(seed=14)
    folder = write_idx_folder(tmp_path / "m", raw, gz=False)
    write_idx_folder(folder, gz, gz=True)
    assert_same(load_mnist(folder), raw)


def test_arrays_are_read_only_and_cached(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "m", fake_mnist())
    first = load_mnist(folder)
    assert load_mnist(folder) is first
    with pytest.raises(ValueError):
        first.x_train[0, 0, 0] = 1


def test_cache_notices_a_changed_file(tmp_path: Path) -> None:
    folder = write_idx_folder(tmp_path / "m", fake_mnist(n_test=5))
    load_mnist(folder)
    write_idx_folder(folder, fake_mnist(n_test=7))
    assert len(load_mnist(folder).x_test) == 7


# ---------------------------------------------------------------- what is refused


def _labels(folder: Path) -> Path:
    return folder / "train-labels-idx1-ubyte.gz"


def _images(folder: Path) -> Path:
    return folder / "train-images-idx3-ubyte.gz"


def _wrong_magic(f: Path) -> Path:
    write_idx(_images(f), fake_mnist().x_train, magic=b"\x12\x34\x08\x03")
    return _images(f)


def _wrong_dtype(f: Path) -> Path:
    write_idx(_images(f), fake_mnist().x_train, magic=b"\x00\x00\x0d\x03")
    return _images(f)


def _wrong_ndim(f: Path) -> Path:
    write_idx(_labels(f), fake_mnist().y_train, magic=b"\x00\x00\x08\x02", dims=(12, 1))
    return _labels(f)


def _truncated_images(f: Path) -> Path:
    write_idx(_images(f), fake_mnist().x_train, cut=100)
    return _images(f)


def _truncated_header(f: Path) -> Path:
    _images(f).write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00"))
    return _images(f)


def _extra_bytes(f: Path) -> Path:
    write_idx(_images(f), fake_mnist().x_train, extra=b"\x00" * 3)
    return _images(f)


def _not_28x28(f: Path) -> Path:
    write_idx(_images(f), np.zeros((12, 32, 32), np.uint8))
    return _images(f)


def _count_mismatch(f: Path) -> Path:
    write_idx(_labels(f), fake_mnist().y_train[:-1])
    return _images(f)


def _label_out_of_range(f: Path) -> Path:
    y = fake_mnist().y_train.copy()
    y[3] = 12
    write_idx(_labels(f), y)
    return _labels(f)


def _corrupt_gzip(f: Path) -> Path:
    good = _images(f).read_bytes()
    _images(f).write_bytes(good[: len(good) // 2])
    return _images(f)


def _not_gzip(f: Path) -> Path:
    _labels(f).write_bytes(b"this is not gzip data at all")
    return _labels(f)


def _missing_one(f: Path) -> Path:
    (f / "t10k-labels-idx1-ubyte.gz").unlink()
    return f / "t10k-labels-idx1-ubyte"


def _npz_missing_key(f: Path) -> Path:
    arrays = fake_mnist()._asdict()
    del arrays["y_test"]
    return write_npz(f / "bad.npz", arrays)


def _npz_object_array(f: Path) -> Path:
    arrays = fake_mnist()._asdict()
    arrays["y_train"] = np.array([object()] * 12, dtype=object)
    return write_npz(f / "pickled.npz", arrays)


def _npz_wrong_shape(f: Path) -> Path:
    arrays = fake_mnist()._asdict()
    arrays["x_train"] = arrays["x_train"].reshape(12, 784)
    return write_npz(f / "flat.npz", arrays)


def _npz_float_images(f: Path) -> Path:
    arrays = fake_mnist()._asdict()
    arrays["x_test"] = arrays["x_test"] / 255.0
    return write_npz(f / "float.npz", arrays)


def _npz_count_mismatch(f: Path) -> Path:
    arrays = fake_mnist()._asdict()
    arrays["y_test"] = arrays["y_test"][:3]
    return write_npz(f / "short.npz", arrays)


def _not_an_npz(f: Path) -> Path:
    (f / "mnist.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return f / "mnist.npz"


def _single_idx_file(f: Path) -> Path:
    return _images(f)


def _nonexistent(f: Path) -> Path:
    return f / "no" / "such" / "place"


def _empty_folder(f: Path) -> Path:
    empty = f / "empty"
    empty.mkdir()
    return empty


# (id, damage the good folder and return the path named in the error, what the message says,
#  load the folder itself (True) or the returned path (False))
BAD: list[tuple[str, Callable[[Path], Path], str, bool]] = [
    ("wrong-magic", _wrong_magic, "not an IDX file: magic bytes are 12 34 08 03", True),
    ("wrong-dtype", _wrong_dtype, r"data type is 0x0d \(float\)", True),
    ("wrong-ndim", _wrong_ndim, "2 dimension", True),
    (
        "truncated-images",
        _truncated_images,
        r"truncated: header declares 12 images of 28x28 \(9408 bytes\) but 9308 follow",
        True,
    ),
    ("truncated-header", _truncated_header, "truncated: the IDX header needs 16 bytes", True),
    ("extra-bytes", _extra_bytes, r"extra bytes: .*\(9408 bytes\) but 9411 follow", True),
    ("not-28x28", _not_28x28, "images are 32x32", True),
    (
        "count-mismatch",
        _count_mismatch,
        "holds 12 images but train-labels-idx1-ubyte.gz holds 11",
        True,
    ),
    ("label-out-of-range", _label_out_of_range, "label 12 at index 3 is out of range 0..9", True),
    ("corrupt-gzip", _corrupt_gzip, "not a valid gzip file", True),
    ("not-gzip", _not_gzip, "not a valid gzip file", True),
    ("missing-one-idx", _missing_one, "is missing t10k-labels-idx1-ubyte", True),
    ("npz-missing-key", _npz_missing_key, "missing array.*y_test", False),
    (
        "npz-object-array",
        _npz_object_array,
        r"`y_train` is an array of Python objects \(pickled\)",
        False,
    ),
    ("npz-wrong-shape", _npz_wrong_shape, r"x_train has shape \(12, 784\)", False),
    ("npz-float-images", _npz_float_images, "x_test has dtype float64", False),
    ("npz-count-mismatch", _npz_count_mismatch, "y_test holds 3 labels", False),
    ("not-an-npz", _not_an_npz, "cannot read as an MNIST .npz", False),
    ("single-idx-file", _single_idx_file, "single IDX file", False),
    ("nonexistent-path", _nonexistent, "no such file or folder", False),
    ("empty-folder", _empty_folder, "holds neither the four MNIST IDX files nor mnist.npz", False),
]


@pytest.mark.parametrize(
    ("damage", "message", "load_folder"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_data_is_refused(
    tmp_path: Path, damage: Callable[[Path], Path], message: str, load_folder: bool
) -> None:
    folder = write_idx_folder(tmp_path / "m", fake_mnist())
    named = damage(folder)
    with pytest.raises(NetdslDataError) as info:
        load_mnist(folder if load_folder else named)
    err = info.value
    assert err.code == "NDL100"
    assert str(named) in err.message or named.name in err.message, err.message
    assert re.search(message, err.message), err.message


def test_npz_object_array_is_refused_not_unpickled(tmp_path: Path) -> None:
    with pytest.raises(NetdslDataError, match="allow_pickle=False"):
        load_mnist(_npz_object_array(tmp_path))


def test_nothing_found_lists_every_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline() -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "download_mnist", offline)
    with pytest.raises(NetdslDataError) as info:
        load_mnist()
    msg = info.value.message
    assert "NETDSL_MNIST: not set" in msg
    assert str(tmp_path / "keras_home" / "datasets" / "mnist.npz") in msg
    assert "load_data()" in msg and "OSError: [Errno -3] Temporary failure" in msg
    assert "--data PATH" in msg and "NETDSL_MNIST=PATH" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "mnist.npz" in msg
    assert len(msg.splitlines()) >= 5


def test_nothing_found_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".keras").mkdir(parents=True)  # writable: no /tmp/.keras fallback
    monkeypatch.setattr(data, "download_mnist", lambda: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(NetdslDataError, match=r"\.keras/datasets/mnist\.npz \(not there\)"):
        load_mnist()


# ---------------------------------------------------------------- scaling and labels


def test_scale_images() -> None:
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = data.scale_images(x, (2, 2, 1))
    assert out.dtype == np.float32 and out.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(out[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)


def test_scale_images_refuses_a_wrong_shape() -> None:
    with pytest.raises(NetdslDataError, match=r"cannot shape 1 images of 28x28 as \(32, 32, 1\)"):
        data.scale_images(np.zeros((1, 28, 28), np.uint8), (32, 32, 1))


@pytest.mark.parametrize(
    "labels, dtype, shape",
    [
        ("categorical", np.float32, (3, 10)),
        ("sparse", np.int32, (3,)),
        ("any", np.float32, (3,)),
    ],
    ids=["one-hot", "class-ids", "values"],
)
def test_encode_labels(labels: str, dtype: Any, shape: tuple[int, ...]) -> None:
    from netdsl.keras.training import encode_labels

    y = np.array([0, 3, 9], dtype=np.uint8)
    out = encode_labels(y, 10, labels)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out.argmax(axis=1) if out.ndim == 2 else out, y)


def test_encode_labels_refuses_a_class_out_of_range() -> None:
    from netdsl.keras.training import encode_labels

    with pytest.raises(NetdslDataError, match="10 classes"):
        encode_labels(np.array([10]), 10, "categorical")


# ---------------------------------------------------------------- the plugin


def test_plugin_registers_mnist(tmp_path: Path) -> None:
    from netdsl.vocab.components import Dataset
    from netdsl_builtins import datasets

    got: list[Dataset] = []
    datasets.register_datasets(got.append)
    mnist = next(d for d in got if d.name == "mnist")
    from netdsl.vocab.components import DataRequest, Target

    request = DataRequest(
        "mnist", {}, str(write_idx_folder(tmp_path / "m", fake_mnist())), mnist.env
    )
    info = mnist.describe(request)
    assert (mnist.name, info.input_shape, info.target, mnist.env) == (
        "mnist",
        (28, 28, 1),
        Target("classes", 10),
        "NETDSL_MNIST",
    )
    want = fake_mnist()
    x_train, y_train, x_test, y_test = mnist.load(request, info)
    assert x_train.shape == (12, 28, 28, 1) and x_test.shape == (5, 28, 28, 1)
    assert x_train.dtype == np.float32 and x_train.min() >= 0.0 and x_train.max() <= 1.0
    np.testing.assert_allclose(x_train[..., 0] * 255, want.x_train, atol=1e-3)
    np.testing.assert_array_equal(y_train, want.y_train)
    assert np.issubdtype(y_test.dtype, np.integer)


def test_no_tensorflow_at_import() -> None:
    code = (
        "import sys, netdsl_builtins.mnist_files, netdsl_builtins.datasets; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- the real files, if present


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"no real MNIST at {REAL_MNIST}")
def test_real_mnist() -> None:
    m = load_mnist(REAL_MNIST)
    assert m.x_train.shape == (60000, 28, 28) and m.x_test.shape == (10000, 28, 28)
    assert m.y_train.shape == (60000,) and m.y_test.shape == (10000,)
    assert all(a.dtype == np.uint8 for a in m)
    assert int(m.y_train[0]) == 5
    for y, n in ((m.y_train, 60000), (m.y_test, 10000)):
        counts = np.bincount(y, minlength=10)
        assert counts.size == 10 and counts.sum() == n
        assert (counts > 0.08 * n).all() and (counts < 0.12 * n).all(), counts
    assert m.x_train.max() == 255 and 30 < m.x_train.mean() < 36
