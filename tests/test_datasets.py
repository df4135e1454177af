"""The datasets: every keras.datasets name from its official file format, the user's CSV / npz /
image folders, the task each data set implies, and what a bad file gets. All files are built
here, tiny; nothing is downloaded."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import builtin_registry
from datafiles import (
    REAL_MNIST,
    write_cifar_archive,
    write_cifar_folder,
    write_csv,
    write_idx_folder,
    write_image_folder,
    write_png,
    write_sequence_npz,
)

import netdsl
from netdsl.errors import NetdslDataError, NetdslError
from netdsl.lang.diagnostics import render
from netdsl.vocab.components import DataRequest, Streams
from netdsl_builtins import keras_datasets as kd
from netdsl_builtins import mnist_files, tabular


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No dataset variables, an empty Keras home, no download, no cached arrays."""
    for key in list(os.environ):
        if key.startswith("NETDSL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home").mkdir()

    def no_download(*a: Any) -> None:
        raise OSError("no network in tests")

    monkeypatch.setattr(kd, "_download", no_download)
    monkeypatch.setattr(mnist_files, "download_mnist", no_download)
    monkeypatch.setattr(mnist_files, "download_fashion_mnist", no_download)
    mnist_files.clear_cache()


def dataset(name: str) -> Any:
    return builtin_registry().get("dataset", name)


def request(name: str, path: Path | str | None = None, **args: Any) -> DataRequest:
    comp = dataset(name)
    full = {p.name: p.default for p in comp.params}
    full.update(args)
    return DataRequest(name, full, str(path) if path else None, comp.env)


def load(name: str, path: Path | str | None = None, **args: Any) -> Any:
    req = request(name, path, **args)
    return dataset(name).load(req, dataset(name).describe(req))


def trust(monkeypatch: pytest.MonkeyPatch, path: Path, name: str) -> None:
    """Treat the test's file as the official one (its hash joins Keras's published table)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(kd.KNOWN_SHA256, digest, (name, path.name))


def check_error(text: str, data: str | None = None) -> NetdslError:
    with pytest.raises(NetdslError) as info:
        netdsl.check(text, builtin_registry(), data=data)
    return info.value


# ------------------------------------------------------------------- keras.datasets by name

KERAS_NAMES = {
    "mnist": ((28, 28, 1), "classes", 10),
    "fashion_mnist": ((28, 28, 1), "classes", 10),
    "cifar10": ((32, 32, 3), "classes", 10),
    "cifar100": ((32, 32, 3), "classes", 100),
    "imdb": ((200,), "binary", 0),
    "reuters": ((200,), "classes", 46),
    "boston_housing": ((13,), "regression", 0),
    "california_housing": ((8,), "regression", 0),
}


@pytest.mark.parametrize("name", KERAS_NAMES, ids=list(KERAS_NAMES))
def test_every_keras_dataset_is_described_without_files(name: str) -> None:
    shape, kind, classes = KERAS_NAMES[name]
    info = dataset(name).describe(request(name))
    assert (info.input_shape, info.target.kind, info.target.num_classes) == (shape, kind, classes)
    assert dataset(name).env == f"NETDSL_{name.upper()}"


@pytest.mark.parametrize("name", KERAS_NAMES, ids=list(KERAS_NAMES))
def test_nothing_found_says_where_it_looked(name: str) -> None:
    with pytest.raises(NetdslDataError) as info:
        load(name)
    text = info.value.message
    assert "not found" in text and f"NETDSL_{name.upper()}" in text and "keras_home" in text
    assert "no network in tests" in text


def test_fashion_mnist_from_its_folder_env_and_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = write_idx_folder(tmp_path / "f", seed=1)
    x, y, _, _ = load("fashion_mnist", tmp_path / "f")
    np.testing.assert_array_equal(y, want["y_train"])
    assert x.shape == (12, 28, 28, 1) and x.max() <= 1.0
    monkeypatch.setenv("NETDSL_FASHION_MNIST", str(tmp_path / "f"))
    assert len(load("fashion_mnist")[1]) == 12
    monkeypatch.delenv("NETDSL_FASHION_MNIST")
    cached = write_idx_folder(
        tmp_path / "keras_home" / "datasets" / "fashion-mnist", n_train=7, seed=2
    )
    np.testing.assert_array_equal(load("fashion_mnist")[1], cached["y_train"])


def test_mnist_and_fashion_mnist_never_read_each_others_cache(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    with pytest.raises(NetdslDataError, match="MNIST not found"):
        load("mnist")
    np.savez(
        tmp_path / "keras_home" / "datasets" / "mnist.npz",
        **dict(write_idx_folder(tmp_path / "tmp").items()),
    )
    mnist_files.clear_cache()
    (tmp_path / "keras_home" / "datasets" / "fashion-mnist").rename(tmp_path / "moved")
    with pytest.raises(NetdslDataError, match="Fashion-MNIST not found"):
        load("fashion_mnist")


@pytest.mark.parametrize(
    "asked,owner",
    [("fashion_mnist", "mnist"), ("mnist", "fashion_mnist")],
    ids=["mnist-files-as-fashion", "fashion-files-as-mnist"],
)
def test_the_other_datasets_files_are_refused_by_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str, owner: str
) -> None:
    folder = tmp_path / "idx"
    write_idx_folder(folder)
    for f in folder.iterdir():  # these tiny files stand for the other dataset's published ones
        monkeypatch.setitem(
            mnist_files.KNOWN_IDX_MD5, hashlib.md5(f.read_bytes()).hexdigest(), (owner, f.name)
        )
    with pytest.raises(NetdslDataError, match=f"is {owner}'s .* not "):
        load(asked, folder)


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"no real MNIST at {REAL_MNIST}")
def test_real_mnist_files_are_not_fashion_mnist() -> None:
    with pytest.raises(NetdslDataError, match="is mnist's train-images-idx3-ubyte.gz"):
        load("fashion_mnist", REAL_MNIST)


@pytest.mark.parametrize(
    "hundred,args,classes",
    [(False, {}, 10), (True, {}, 100), (True, {"label_mode": "coarse"}, 20)],
    ids=["cifar10", "cifar100-fine", "cifar100-coarse"],
)
def test_cifar_archive_with_the_published_hash(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hundred: bool,
    args: dict[str, Any],
    classes: int,
) -> None:
    name = "cifar100" if hundred else "cifar10"
    archive = write_cifar_archive(tmp_path / f"{name}.tar.gz", hundred=hundred)
    trust(monkeypatch, archive, name)
    x_train, y_train, x_test, _y_test = load(name, archive, **args)
    assert x_train.shape == ((6 if hundred else 30), 32, 32, 3) and x_test.shape == (6, 32, 32, 3)
    assert x_train.dtype == np.float32 and x_train.min() >= 0 and x_train.max() <= 1
    assert y_train.max() < classes


def test_cifar_in_the_keras_cache_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_cifar_archive(
        tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target_archive"
    )
    trust(monkeypatch, archive, "cifar10")
    assert load("cifar10")[0].shape == (30, 32, 32, 3)


def trust_folder(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str) -> None:
    """Treat the test's extracted files as the official ones (their MD5s join the published table)."""
    for f in folder.iterdir():
        monkeypatch.setitem(
            kd.KNOWN_FOLDER_MD5[name], f.name, hashlib.md5(f.read_bytes()).hexdigest()
        )


@pytest.mark.parametrize(
    "hundred,where,args,classes",
    [
        (False, "folder", {}, 10),
        (False, "parent", {}, 10),
        (True, "folder", {}, 100),
        (True, "parent", {"label_mode": "coarse"}, 20),
    ],
    ids=["cifar10-folder", "cifar10-parent", "cifar100-folder", "cifar100-parent-coarse"],
)
def test_cifar_extracted_folder_with_published_hashes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    hundred: bool,
    where: str,
    args: dict[str, Any],
    classes: int,
) -> None:
    name = "cifar100" if hundred else "cifar10"
    folder = write_cifar_folder(tmp_path / "data", hundred=hundred)
    trust_folder(monkeypatch, folder, name)
    x_train, y_train, x_test, _y_test = load(
        name, folder if where == "folder" else folder.parent, **args
    )
    assert x_train.shape == ((6 if hundred else 30), 32, 32, 3) and x_test.shape == (6, 32, 32, 3)
    assert x_train.dtype == np.float32 and x_train.min() >= 0 and x_train.max() <= 1
    assert y_train.max() < classes


def test_cifar_extracted_folder_reads_the_same_arrays_as_its_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", seed=3)
    folder = write_cifar_folder(tmp_path / "x", seed=3)
    trust(monkeypatch, archive, "cifar10")
    trust_folder(monkeypatch, folder, "cifar10")
    for a, b in zip(load("cifar10", archive), load("cifar10", folder), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["unknown-hash", "one-file-changed", "one-file-missing"])
def test_cifar_extracted_folder_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    folder = write_cifar_folder(tmp_path / "data")
    if damage != "unknown-hash":
        trust_folder(monkeypatch, folder, "cifar10")
    if damage == "one-file-changed":
        (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes() + b"\0")
    if damage == "one-file-missing":
        (folder / "data_batch_4").unlink()
    bad = {
        "unknown-hash": "data_batch_1",
        "one-file-changed": "data_batch_3",
        "one-file-missing": "data_batch_4",
    }[damage]
    with pytest.raises(NetdslDataError) as info:
        load("cifar10", folder)
    assert str(folder / bad) in info.value.message
    assert (
        "missing" if damage == "one-file-missing" else "refused: reading it means unpickling"
    ) in info.value.message


def test_cifar_extracted_folder_in_the_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_cifar_folder(tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py-target")
    trust_folder(monkeypatch, folder, "cifar10")
    assert load("cifar10")[0].shape == (30, 32, 32, 3)


def test_a_cifar100_folder_is_not_cifar10(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_cifar_folder(tmp_path / "data", hundred=True)
    trust_folder(monkeypatch, folder, "cifar100")
    with pytest.raises(
        NetdslDataError,
        match="holds none of cifar-10-python.tar.gz.*nor an extracted cifar-10-batches-py/",
    ):
        load("cifar10", tmp_path / "data")


@pytest.mark.parametrize("name", ["cifar10", "imdb", "reuters"])
def test_a_pickled_file_with_an_unknown_hash_is_refused(tmp_path: Path, name: str) -> None:
    path = (
        write_cifar_archive(tmp_path / "c.tar.gz")
        if name == "cifar10"
        else write_sequence_npz(tmp_path / f"{name}.npz", reuters=name == "reuters")
    )
    with pytest.raises(
        NetdslDataError, match="refused: reading it means unpickling.*not the published file"
    ):
        load(name, path)


def test_a_known_hash_still_rebuilds_arrays_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Evil:
        def __reduce__(self) -> Any:
            return (os.system, ("echo pwned",))

    path = tmp_path / "imdb.npz"
    obj = np.empty(1, dtype=object)
    obj[0] = Evil()
    np.savez(path, x_train=obj, y_train=np.zeros(1), x_test=obj, y_test=np.zeros(1))
    trust(monkeypatch, path, "imdb")
    with pytest.raises(NetdslDataError, match="refusing to rebuild"):
        load("imdb", path)


def test_imdb_sequences_are_keras_encoded_and_padded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_sequence_npz(tmp_path / "imdb.npz", vocab=50)
    trust(monkeypatch, path, "imdb")
    x_train, y_train, _x_test, _y_test = load("imdb", tmp_path, num_words=20, maxlen=16)
    assert x_train.shape == (40, 16) and x_train.dtype == np.int32 and y_train.dtype == np.float32
    assert x_train.max() < 20 and set(np.unique(y_train)) <= {0.0, 1.0}
    assert (x_train == 2).any()  # ids past num_words became the out-of-vocabulary id


def test_reuters_split_is_seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_sequence_npz(tmp_path / "reuters.npz", reuters=True)
    trust(monkeypatch, path, "reuters")
    a, b = load("reuters", path, seed=1), load("reuters", path, seed=1)
    c = load("reuters", path, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert len(a[0]) == 32 and len(a[2]) == 8 and not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name,features", [("boston_housing", 13), ("california_housing", 8)])
def test_housing_regression_from_npz_without_pickle(
    tmp_path: Path, name: str, features: int
) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / f"{name}.npz", x=rng.random((50, features)), y=rng.random(50) * 50)
    x_train, y_train, x_test, _y_test = load(name, tmp_path)  # a folder holding the Keras file name
    assert x_train.shape == (40, features) and y_train.dtype == np.float32 and len(x_test) == 10


def test_user_path_that_does_not_hold_the_file_never_falls_through(tmp_path: Path) -> None:
    (tmp_path / "keras_home" / "datasets").mkdir()
    np.savez(
        tmp_path / "keras_home" / "datasets" / "boston_housing.npz",
        x=np.zeros((5, 13)),
        y=np.zeros(5),
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(NetdslDataError, match="holds none of boston_housing.npz"):
        load("boston_housing", tmp_path / "empty")


# ------------------------------------------------------------------- the user's CSV


def test_csv_is_described_from_its_header_and_first_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "iris.csv", 60)
    m = netdsl.check(
        f'dataset: csv("{path}", label="species")\ndense 8 relu -> dense 3 softmax',
        builtin_registry(),
    )
    assert m.input_shape == (4,) and m.data.class_names == ("setosa", "versicolor", "virginica")
    assert m.settings["loss"].name == "categorical_crossentropy"


@pytest.mark.parametrize(
    "rows,label,kind,net,loss",
    [
        ("1,2,0\n3,4,1\n", "y", "binary", "dense 1 sigmoid", "binary_crossentropy"),
        ("1,2,0\n3,4,2\n", "y", "classes", "dense 3 softmax", "categorical_crossentropy"),
        ("1,2,0.5\n3,4,2.25\n", "y", "regression", "dense 1", "mean_squared_error"),
    ],
    ids=["binary", "int-classes", "regression"],
)
def test_csv_label_kind_sets_the_task(
    tmp_path: Path, rows: str, label: str, kind: str, net: str, loss: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + rows * 5)  # enough rows that the test split holds some
    m = netdsl.check(f'dataset: csv("{path}", label="{label}")\n{net}', builtin_registry())
    assert (m.data.target.kind, m.settings["loss"].name) == (kind, loss)


CSV_ERRORS = {
    "not-a-number": (
        "a,b,species\n1,2,x\n3,abc,y\n",
        3,
        3,
        "`abc` in column `b` is not a number",
        "3,abc,y",
    ),
    "short-row": ("a,b,species\n1,2\n", 2, 4, "row has 2 cells but the header names 3", "1,2"),
    "long-row": ("a,b,species\n1,2,x,9\n", 2, 7, "row has 4 cells", "1,2,x,9"),
    "inf": (
        "a,b,species\n1,inf,x\n",
        2,
        3,
        "`inf` in column `b` is not a finite number",
        "1,inf,x",
    ),
    "no-header": ("a\n", 1, 1, "starts with a header row", "a"),
}


@pytest.mark.parametrize("case", CSV_ERRORS, ids=list(CSV_ERRORS))
def test_csv_errors_are_at_file_line_column_with_the_line(tmp_path: Path, case: str) -> None:
    text, line, col, message, shown = CSV_ERRORS[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    err = check_error(f'dataset: csv("{path}", label="species")\ndense 2 softmax')
    assert (err.span.file, err.span.line, err.span.column) == (str(path), line, col)
    assert message in err.message
    drawn = render(err)
    assert drawn.startswith(f"{path}:{line}:{col}: error[NDL101]") and f"{line} | {shown}" in drawn


def test_csv_unknown_label_column_says_did_you_mean(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "iris.csv", 10)
    err = check_error(f'dataset: csv("{path}", label="specis")\ndense 3 softmax')
    assert err.message == "no column `specis` in the header of iris.csv"
    assert (
        err.help == "did you mean `species`?" and err.span.file == str(path) and err.span.line == 1
    )


def test_csv_path_from_data_option_and_missing_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "iris.csv", 10)
    assert netdsl.check(
        "dataset: csv\ndense 3 softmax", builtin_registry(), data=str(path)
    ).input_shape == (4,)
    err = check_error("dataset: csv\ndense 3 softmax", data=str(tmp_path / "nope.csv"))
    assert "nope.csv: no such file" in err.message


@pytest.mark.parametrize(
    ("filename", "data", "expected"),
    [
        ("prog/m.net", None, "prog/wine.csv"),  # the program's own path: its folder
        (
            "<stdin>",
            None,
            "here/wine.csv",
        ),  # a program read from standard input: the current folder
        (None, None, "here/wine.csv"),  # a program given as text, no file: the current folder
        ("prog/m.net", "wine.csv", "here/wine.csv"),  # --data: typed at the current folder
    ],
    ids=["program-folder", "stdin", "no-filename", "data-option"],
)
def test_a_relative_data_path_resolves_where_its_writer_stood(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    filename: str | None,
    data: str | None,
    expected: str,
) -> None:
    """Issue 21.3: ``csv("wine.csv")`` in /dir/m.net reads /dir/wine.csv whatever the current
    folder; the plan holds the absolute path; a missing file's error says where it looked."""
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    name = str(tmp_path / filename) if filename and not filename.startswith("<") else filename
    text = ('dataset: csv("wine.csv")' if data is None else "dataset: csv") + "\ndense 3 softmax\n"
    with pytest.raises(NetdslDataError) as missing:
        netdsl.check(text, builtin_registry(), filename=name, data=data)
    assert missing.value.message == f"{tmp_path / expected}: no such file"
    write_csv(tmp_path / expected, 10)
    model = netdsl.check(text, builtin_registry(), filename=name, data=data)
    assert model.input_shape == (4,)
    if data is None:
        assert model.dataset.kwargs["path"] == str(tmp_path / expected)
        assert model.replace(epochs=2).dataset.kwargs["path"] == str(tmp_path / expected)


def test_only_a_file_path_is_anchored(tmp_path: Path) -> None:
    """A URL (a plugin's to read) and a dataset given on the command line stay as written."""
    from netdsl.checking.data_pass import anchored
    from netdsl.lang.parser import parse
    from netdsl.vocab.components import Ref

    program = parse("dense 1\n", str(tmp_path / "m.net"))
    url = Ref("dataset", "remote", (("path", "https://example.org/t.csv"),))
    assert anchored(url, program, ()) is url
    local = Ref("dataset", "csv", (("path", "t.csv"), ("label", "y")))
    assert anchored(local, program, ()).args == (("path", str(tmp_path / "t.csv")), ("label", "y"))
    assert anchored(local, program, ("dataset",)).kwargs["path"] == os.path.join(
        os.getcwd(), "t.csv"
    )


def test_check_reads_only_the_first_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "SAMPLE_BYTES", 200)
    path = write_csv(tmp_path / "big.csv", 100)
    with open(path, "a") as f:
        f.write("1,2,3,oops,setosa\n")
    netdsl.check(
        f'dataset: csv("{path}")\ndense 3 softmax', builtin_registry()
    )  # the bad row is not read
    with pytest.raises(NetdslDataError) as info:
        load("csv", path)  # but loading finds it, at its exact place
    assert (info.value.span.line, info.value.span.column) == (
        102,
        7,
    ) and "`oops`" in info.value.message


def test_check_reads_a_few_kilobytes_of_a_big_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default `check` reads the header and 8 KB of rows of a big file: a bad row 16 KB in
    is not read, and the rows read are the few hundred that fit."""
    monkeypatch.setattr(tabular, "LABEL_SCAN_BYTES", 32 << 10)  # "big": past the label scan
    path = write_csv(tmp_path / "big.csv", 2000)  # about 80 KB
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i in range(len(lines)) if sum(map(len, lines[:i])) > 16 << 10)
    lines[at] = "1,2,3,oops,setosa\n"
    path.write_text("".join(lines))
    netdsl.check(f'dataset: csv("{path}")\ndense 3 softmax', builtin_registry())
    layout = tabular.read_layout(request("csv", path))
    assert (
        tabular.SAMPLE_BYTES <= 8 << 10
        and 100 < layout.rows_sampled < 400
        and not layout.whole_file
    )


def test_check_reads_the_whole_label_column_of_a_small_csv_sorted_by_class(tmp_path: Path) -> None:
    """A file of at most 1 MB is read whole for its classes (the other cells only in the first
    8 KB): sorted by species, the last class first appears ~50 KB in, and check still sees it."""
    path = write_csv(tmp_path / "sorted.csv", 3000)
    header, *rows = path.read_text().splitlines()
    rows.sort(key=lambda r: r.rsplit(",", 1)[1])
    rows[-1] = rows[-1].rsplit(",", 1)[0] + ",zinnia"  # a fourth class on the very last line
    path.write_text("\n".join([header, *rows]) + "\n")
    assert path.stat().st_size < tabular.LABEL_SCAN_BYTES
    layout = tabular.read_layout(request("csv", path))
    assert (
        layout.class_names == ("setosa", "versicolor", "virginica", "zinnia") and layout.whole_file
    )
    with pytest.raises(NetdslError) as info:
        netdsl.check(f'dataset: csv("{path}")\ndense 3 softmax', builtin_registry())
    assert "4" in info.value.message


@pytest.mark.slow
def test_csv_streams_split_seeded_and_labels_mapped(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "iris.csv", 5000)
    streams = load("csv", path, seed=3)
    assert isinstance(streams, Streams) and streams.train_size + streams.test_size == 5000
    assert 0.17 < streams.test_size / 5000 < 0.23
    assert streams.class_names == ("setosa", "versicolor", "virginica")
    again = load("csv", path, seed=3)
    assert again.test_size == streams.test_size
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in streams.test(64)])
    np.testing.assert_array_equal(
        np.concatenate(ys), np.concatenate([y.numpy() for _, y in again.test(64)])
    )
    assert np.concatenate(xs).shape == (streams.test_size, 4) and set(
        np.concatenate(ys).ravel()
    ) == {0, 1, 2}
    assert load("csv", path, seed=4).test_size != streams.test_size


# ------------------------------------------------------------------- the user's npz


def test_npz_x_y_split_and_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((50, 6)), y=rng.integers(0, 4, 50))
    m = netdsl.check(
        f'dataset: npz("{tmp_path / "d.npz"}", test_split=0.3)\ndense 4 softmax', builtin_registry()
    )
    assert (m.input_shape, m.data.target.num_classes, m.data.train_size) == ((6,), 4, 35)
    x_train, _y_train, x_test, _y_test = load("npz", tmp_path / "d.npz", test_split=0.3)
    assert (len(x_train), len(x_test), x_train.dtype) == (35, 15, np.float32)


def test_npz_four_arrays_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "d.npz",
        x_train=rng.random((20, 3)),
        y_train=rng.random(20),
        x_test=rng.random((5, 3)),
        y_test=rng.random(5),
    )
    m = netdsl.check(f'dataset: npz("{tmp_path / "d.npz"}")\ndense 1', builtin_registry())
    assert m.data.target.kind == "regression" and m.settings["loss"].name == "mean_squared_error"


@pytest.mark.parametrize(
    "arrays,message",
    [
        ({"a": np.zeros(3)}, "holds a; `npz` reads"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(4)}, "`x` has 3 rows but `y` has 4"),
        ({"x": np.array([[1], "a"], dtype=object), "y": np.zeros(2)}, "array of Python objects"),
    ],
    ids=["no-known-arrays", "row-mismatch", "pickled-objects"],
)
def test_bad_npz_is_refused(tmp_path: Path, arrays: dict[str, Any], message: str) -> None:
    np.savez(tmp_path / "d.npz", **arrays)
    err = check_error(f'dataset: npz("{tmp_path / "d.npz"}")\ndense 1')
    assert message in err.message and str(tmp_path / "d.npz") in err.message


# ------------------------------------------------------------------- image folders


def test_images_check_lists_class_folders_only(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "photos", classes=("cats", "dogs", "owls"), per_class=2)
    m = netdsl.check(
        f'dataset: images("{tmp_path / "photos"}", size=8x8)\nflatten -> dense 3 softmax',
        builtin_registry(),
    )
    assert m.input_shape == (8, 8, 3) and m.data.class_names == ("cats", "dogs", "owls")
    m = netdsl.check(
        f'dataset: images("{tmp_path / "photos"}")\ninput: 16x16x1\nflatten -> dense 3 softmax',
        builtin_registry(),
    )
    assert m.input_shape == (16, 16, 1)


def test_images_folder_without_class_folders(tmp_path: Path) -> None:
    write_png(tmp_path / "flat" / "a.png", np.zeros((4, 4), np.uint8))
    err = check_error(f'dataset: images("{tmp_path / "flat"}")\nflatten -> dense 2 softmax')
    assert "needs one sub-folder per class" in err.message


@pytest.mark.slow
def test_images_stream_with_split_and_test_folder(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "p", per_class=10, size=8)
    s = load("images", tmp_path / "p", size=(8, 8))
    assert (s.train_size, s.test_size, s.class_names) == (16, 4, ("cats", "dogs"))
    x, _y = next(iter(s.train(4, 0)))
    assert x.shape == (4, 8, 8, 3) and float(x.numpy().max()) <= 1.0
    write_image_folder(tmp_path / "q" / "train", per_class=6, size=8)
    write_image_folder(tmp_path / "q" / "test", per_class=2, size=8, seed=1)
    s = load("images", tmp_path / "q", size=(8, 8), color="grayscale")
    assert (s.train_size, s.test_size) == (12, 4) and s.record["test_folder"].endswith("test")


# ------------------------------------------------------------------- the output check

ACTIVATION_CASES = {
    "softmax-on-regression": (
        "boston_housing",
        "dense 1 softmax",
        "softmax makes the outputs sum to 1",
        "`dense 1`",
    ),
    "sigmoid-on-10-classes": (
        "mnist",
        "dense 10 sigmoid",
        "sigmoid scores each class on its own",
        "`dense 10 softmax`",
    ),
    "relu-on-classes": (
        "mnist",
        "dense 10 relu",
        "`relu` does not give class probabilities",
        "`dense 10 softmax`",
    ),
    "softmax-on-binary": (
        "imdb",
        "embedding 10000 8 -> flatten -> dense 1 softmax",
        "softmax over one unit",
        "`dense 1 sigmoid`",
    ),
}


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=list(ACTIVATION_CASES))
def test_final_activation_must_fit_the_target(case: str) -> None:
    data, net, why, fix = ACTIVATION_CASES[case]
    err = check_error(f"dataset: {data}\n{net}")
    assert err.code == "NDL013" and why in err.message and fix in err.help
    assert err.span.line == 2


@pytest.mark.parametrize(
    "text",
    [
        "dataset: boston_housing\ndense 8 relu -> dense 1",
        "dataset: boston_housing\ndense 8 relu -> dense 1 relu",
        "dataset: imdb\nembedding 10000 8 -> flatten -> dense 1",
        "dataset: mnist\nflatten -> dense 10",
        "dataset: mnist\nloss: binary_crossentropy\nflatten -> dense 10 sigmoid",
    ],
    ids=[
        "linear-regression",
        "relu-regression",
        "binary-logits",
        "class-logits",
        "named-loss-trusted",
    ],
)
def test_fitting_activations_pass(text: str) -> None:
    netdsl.check(text, builtin_registry())


# ------------------------------------------------------------------- training end to end


@pytest.mark.slow
def test_run_on_csv_writes_labels_and_split(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    from netdsl.run.driver import run_model

    path = write_csv(tmp_path / "iris.csv", 600)
    m = netdsl.check(
        f'dataset: csv("{path}", seed=5)\nnormalize: true\nepochs: 2\nseed: 1\n'
        "dense 8 relu -> dense 3 softmax",
        builtin_registry(),
    )
    report = run_model(m, out_dir=tmp_path / "runs", quiet=True)
    # the streams tell Keras their length: no "Your input ran out of data" at the end of a pass
    assert not [w for w in recwarn if "ran out of data" in str(w.message)]
    labels = json.loads((report.folder / "labels.json").read_text())
    record = json.loads((report.folder / "data.json").read_text())
    assert labels == {
        "format": "netdsl.labels/1",
        "classes": ["setosa", "versicolor", "virginica"],
        "encoding": "categorical",
    }
    assert record["split"]["seed"] == 5 and record["train_size"] + record["test_size"] == 600
    assert "normalize: true" in (report.folder / "model.net").read_text()
    assert 0.0 <= report.test["accuracy"] <= 1.0


@pytest.mark.slow
def test_normalize_is_adapted_and_saved_in_the_model(tmp_path: Path) -> None:
    import keras

    from netdsl.keras.training import load_data
    from netdsl.run.driver import run_model

    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, (200, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 50).astype(np.int64))
    m = netdsl.check(
        f'dataset: npz("{tmp_path / "d.npz"}")\nnormalize: true\nepochs: 1\ndense 1 sigmoid',
        builtin_registry(),
    )
    report = run_model(m, out_dir=tmp_path / "runs", quiet=True)
    net = keras.models.load_model(report.folder / "model.keras")
    layer = net.get_layer("normalize")
    data = load_data(m)
    np.testing.assert_allclose(np.ravel(layer.mean), data.x_train.mean(axis=0), rtol=1e-4)
    assert net.predict(x[:4], verbose=0).shape == (4, 1)


@pytest.mark.parametrize("kind", ["csv", "images"])
def test_streamed_data_refuses_validation_split_at_check_time(tmp_path: Path, kind: str) -> None:
    """``csv`` and ``images`` stream their data, which ``validation_split`` cannot split: ``check``
    says so at the setting's line (it used to pass, and training refused it)."""
    if kind == "csv":
        dataset = f'csv("{write_csv(tmp_path / "iris.csv", 100)}")'
    else:
        write_image_folder(tmp_path / "photos", classes=("a", "b", "c"), per_class=2)
        dataset = f'images("{tmp_path / "photos"}", size=8x8)'
    text = f"dataset: {dataset}\nvalidation_split: 0.1\nepochs: 1\nflatten -> dense 3 softmax\n"
    err = check_error(text)
    assert err.code == "NDL004" and err.span is not None and err.span.line == 2
    assert err.message == f"`validation_split` needs the data in memory, and `{kind}` streams it"
    with pytest.raises(NetdslError, match="streams it") as given:  # a --validation-split override
        netdsl.check(
            text.replace("validation_split: 0.1\n", ""),
            builtin_registry(),
            overrides={"validation_split": 0.1},
        )
    assert given.value.span is None


def test_pickle_module_not_needed_for_plain_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boston_housing's plain npz never reaches the unpickler."""

    def refuse(*a: Any, **k: Any) -> None:
        raise AssertionError("unpickled")

    monkeypatch.setattr(kd, "_unpickle", refuse)
    np.savez(tmp_path / "b.npz", x=np.zeros((10, 13)), y=np.zeros(10))
    assert load("boston_housing", tmp_path / "b.npz")[0].shape == (8, 13)


@pytest.mark.parametrize("name", ["imdb", "boston_housing", "cifar10"])
def test_own_environment_variable_then_keras_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    if name == "cifar10":
        path = write_cifar_archive(tmp_path / "env" / "cifar-10-python.tar.gz")
        trust(monkeypatch, path, name)
    elif name == "imdb":
        path = write_sequence_npz(tmp_path / "env" / "imdb.npz")
        trust(monkeypatch, path, name)
    else:
        path = tmp_path / "env" / "boston_housing.npz"
        path.parent.mkdir()
        np.savez(path, x=np.zeros((10, 13)), y=np.arange(10.0))
    monkeypatch.setenv(f"NETDSL_{name.upper()}", str(path.parent))
    assert len(load(name)[0]) > 0
    monkeypatch.setenv(f"NETDSL_{name.upper()}", str(tmp_path / "missing"))
    with pytest.raises(NetdslDataError, match=f"NETDSL_{name.upper()}=.*missing.*no such file"):
        load(name)
    monkeypatch.delenv(f"NETDSL_{name.upper()}")
    cache = tmp_path / "keras_home" / "datasets" / kd.FILES[name].cache_name
    cache.parent.mkdir(parents=True, exist_ok=True)
    path.rename(cache)
    assert len(load(name)[0]) > 0


@pytest.mark.parametrize(
    "rows,kind",
    [("1,2,3\n4,5,7\n", "ints"), ("1,2,a\n4,5,b\n", "names")],
    ids=["int-labels", "name-labels"],
)
def test_csv_layout_kinds(tmp_path: Path, rows: str, kind: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + rows)
    layout = tabular.read_layout(request("csv", path, label="y"))
    assert layout.label_kind == kind and layout.features == (0, 1)


# ------------------------------------------------------------------- examples/data

EXAMPLE_DATA = {
    "tabular": ("iris.csv", "classes"),
    "regression": ("houses.csv", "regression"),
    "images": ("shapes", "classes"),
    "imdb": (None, "binary"),
}


@pytest.mark.parametrize("name", EXAMPLE_DATA, ids=list(EXAMPLE_DATA))
def test_data_examples_check_on_generated_data(tmp_path: Path, name: str) -> None:
    from conftest import EXAMPLES

    write_csv(tmp_path / "iris.csv", 30, seed=1)
    write_csv(tmp_path / "houses.csv", 30, features=8, task="reals", seed=2)
    write_image_folder(tmp_path / "shapes", classes=("dark", "mid", "light"), per_class=1, size=4)
    data, kind = EXAMPLE_DATA[name]
    path = EXAMPLES / "data" / f"{name}.net"
    text = path.read_text()
    assert text.startswith("#") and "test " in text, (
        "each example's header gives the figures it reaches"
    )
    m = netdsl.check(
        text, builtin_registry(), filename=str(path), data=str(tmp_path / data) if data else None
    )
    assert m.data.target.kind == kind


def _damaged_inside(path: Path) -> None:
    """A PNG whose chunk structure is whole but whose pixel data is garbage."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"\x00garbage" * 4)
        + chunk(b"IEND", b"")
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "cached", [True, False], ids=["decoded-once-in-memory", "decoded-each-epoch"]
)
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x89PNG\r\n\x1a\nnot really", "a PNG without its IHDR header"),
        (b"", "an empty file"),
        (None, "does not decode"),
    ],
    ids=["bad-header", "empty", "damaged-inside"],
)
def test_a_picture_that_does_not_decode_is_a_data_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cached: bool,
    content: bytes | None,
    message: str,
) -> None:
    from netdsl.keras.training import load_data, train
    from netdsl_builtins import images

    if not cached:
        monkeypatch.setattr(images, "CACHE_BYTES", 0)
    write_image_folder(tmp_path / "p" / "train", per_class=4, size=8)
    write_image_folder(tmp_path / "p" / "test", per_class=2, size=8)
    broken = tmp_path / "p" / "train" / "cats" / "broken.png"
    if content is None:
        _damaged_inside(broken)
    else:
        broken.write_bytes(content)
    m = netdsl.check(
        f'dataset: images("{tmp_path / "p"}", size=8x8)\nepochs: 1\nflatten -> dense 2 softmax',
        builtin_registry(),
    )
    with pytest.raises(NetdslDataError) as info:
        data = load_data(m)  # every header is read here; the cache also decodes every picture
        if not cached:
            train(m, data, verbose=0)
    if cached or content is not None:  # named before training
        assert str(broken) in info.value.message and message in info.value.message
    else:  # found only by decoding, while training: the run says so
        assert "reading `images` while training failed" in info.value.message


@pytest.mark.parametrize(
    "late,message",
    [
        ("1,2,3,4,daisy", "label `daisy` is not one of the classes"),
        ("1,2,3,4,", "missing value in label column"),
    ],
    ids=["unknown-class", "empty-label"],
)
def test_a_bad_label_past_the_sample_is_found_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: str, message: str
) -> None:
    monkeypatch.setattr(tabular, "SAMPLE_BYTES", 300)
    monkeypatch.setattr(tabular, "LABEL_SCAN_BYTES", 300)
    path = write_csv(tmp_path / "big.csv", 50)
    with open(path, "a") as f:
        f.write(late + "\n")
    netdsl.check(f'dataset: csv("{path}")\ndense 3 softmax', builtin_registry())
    with pytest.raises(NetdslDataError) as info:
        load("csv", path)
    assert message in info.value.message and info.value.span.line == 52
    assert f"52 | {late}" in render(info.value)


# ------------------------------------------------------------------- streamed epoch order


def _epoch(data: Any, clock: Any, epoch: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    clock.epoch = epoch
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.train(16, seed, clock)])
    return np.concatenate(xs), np.concatenate(ys)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,cache,extra",
    [
        ("csv", None, ""),
        ("csv", 0, ""),
        ("csv", 0, ", spill=false"),
        ("images", None, ""),
        ("images", 0, ""),
    ],
    ids=[
        "csv-in-memory",
        "csv-spilled-to-disk",
        "csv-text-each-epoch",
        "images-in-memory",
        "images-decoded-each-epoch",
    ],
)
def test_streamed_epochs_use_every_row_once_in_an_order_seeded_by_the_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, cache: int | None, extra: str
) -> None:
    from netdsl.keras.training import EpochClock, load_data
    from netdsl_builtins import images

    if cache is not None:
        monkeypatch.setattr(images if kind == "images" else tabular, "CACHE_BYTES", cache)
    if kind == "csv":
        monkeypatch.setattr(tabular, "CHUNK_ROWS", 64)  # several chunks and windows in a small file
        path = write_csv(tmp_path / "t.csv", 3000)
        text = f'dataset: csv("{path}"{extra})\ndense 3 softmax'
    else:
        write_image_folder(tmp_path / "p", per_class=30, size=8)
        text = f'dataset: images("{tmp_path / "p"}", size=8x8)\nflatten -> dense 2 softmax'
    data = load_data(netdsl.check(text, builtin_registry()))
    assert data.streams.record["cached_in_memory"] is (cache is None)
    if kind == "csv":
        assert (data.streams.record["spilled"] is not None) is (cache is not None and not extra)
    clock = EpochClock()
    x0, y0 = _epoch(data, clock, 0)
    assert len(x0) == data.train_size
    flat = x0.reshape(len(x0), -1)
    assert len(np.unique(flat, axis=0)) == data.train_size  # every (distinct) training row once
    again, _ = _epoch(data, clock, 0)
    np.testing.assert_array_equal(x0, again)  # the same epoch, the same order: what resuming needs
    x1, y1 = _epoch(data, clock, 1)
    assert not np.array_equal(x0, x1), "each epoch has its own order"
    key = lambda x: np.lexsort(x.reshape(len(x), -1).T)  # noqa: E731
    np.testing.assert_array_equal(x0[key(x0)], x1[key(x1)])  # the same rows, each once
    np.testing.assert_array_equal(y0[key(x0)], y1[key(x1)])
    other, _ = _epoch(data, clock, 0, seed=8)
    assert not np.array_equal(x0, other), "another run seed, another order"


@pytest.mark.slow
@pytest.mark.parametrize(
    "cache,extra",
    [(None, ""), (0, ""), (0, ", spill=false")],
    ids=["in-memory", "spilled-to-disk", "text-each-epoch"],
)
def test_a_streamed_run_resumed_after_epoch_2_has_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: int | None, extra: str
) -> None:
    from netdsl.keras.training import fit, load_data

    if cache is not None:
        monkeypatch.setattr(tabular, "CACHE_BYTES", cache)
    path = write_csv(tmp_path / "t.csv", 2000)
    m = netdsl.check(
        f'dataset: csv("{path}"{extra})\nepochs: 3\nseed: 3\nbatch_size: 32\n'
        "dense 8 relu -> dense 3 softmax",
        builtin_registry(),
    )
    data = load_data(m)
    whole = fit(m, data, verbose=0, shuffle_seed=11)
    saved: dict[int, Any] = {}
    first = fit(
        m,
        data,
        verbose=0,
        shuffle_seed=11,
        on_epoch=lambda done, w, o: saved.__setitem__(done, (w, o)),
    )
    assert [
        np.array_equal(a, b) for a, b in zip(first.net.get_weights(), whole.net.get_weights())
    ] == [True] * len(whole.net.get_weights())
    resumed = fit(
        m,
        data,
        verbose=0,
        shuffle_seed=11,
        initial_epoch=2,
        state=saved[2],
        history=list(first.history[:2]),
    )
    for a, b in zip(resumed.net.get_weights(), whole.net.get_weights(), strict=True):
        assert np.array_equal(a, b), (
            "resuming a streamed run after epoch 2 must give the same weights"
        )
