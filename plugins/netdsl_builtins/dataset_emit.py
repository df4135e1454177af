"""What ``netdsl emit`` writes for each built-in dataset: a ``load_data(path)`` function in plain
Python (NumPy, Keras, the standard library) that returns the arrays the dataset's ``load`` gives
netdsl, from the same files, split the same way (the seeded splits are reproduced op for op).

Each dataset declares its own (``Dataset(emit=...)``), so the core names none. The program's
``--data PATH`` wins over the path the program gave, which wins over the dataset's environment
variable. A file that netdsl checks by its published SHA-256 before unpickling it (CIFAR, IMDB,
Reuters) is read by the emitted program as Keras reads it: the program trusts the file it is given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from netdsl.vocab.components import Code, DataInfo, DataRequest

__all__ = [
    "emit_cifar",
    "emit_csv",
    "emit_idx",
    "emit_images",
    "emit_imdb",
    "emit_npz",
    "emit_reuters",
    "emit_table",
]


def _default(request: DataRequest, env: str | None) -> str:
    """The expression for the data's place when ``--data`` is not given."""
    parts = [json.dumps(request.path)] if request.path else []
    if env:
        parts.append(f'os.environ.get("{env}")')
    return " or ".join(parts) or "None"


_SPLIT = '''
def split_seeded(n, test_split, seed):
    """Keras's split: range(n) shuffled by RandomState(seed); the last test_split is the test set."""
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    cut = int(n * (1 - test_split))
    return order[:cut], order[cut:]
'''

# --- csv -----------------------------------------------------------------------------------------

_CSV = '''
def load_data(path=None):
    """The CSV table PATH (else %(default_doc)s): the feature columns as float32 and the label
    column as %(what)s. Rows go to the test set as netdsl draws them: chunks of %(chunk)d lines,
    a stateless uniform draw per row seeded by (seed, chunk) below test_split %(test_split)r."""
    import tensorflow as tf  # the seeded draw of netdsl's split

    path = path or %(default)s
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\\n")
    if lines and lines[-1] == "":
        lines.pop()
    header = next(csv.reader([lines[0]], delimiter=%(delimiter)s))
    label = %(label)s
    classes = {name: i for i, name in enumerate(%(classes)s)}
    xs, ys, test = [], [], []
    body = lines[1:]
    for chunk in range(0, len(body), %(chunk)d):
        rows = [line.removesuffix("\\r") for line in body[chunk : chunk + %(chunk)d]]
        rows = [line for line in rows if line.strip()]
        seed = tf.constant([%(seed)d, chunk // %(chunk)d], tf.int64)
        draw = tf.random.stateless_uniform([len(rows)], seed=seed).numpy()
        for row, d in zip(csv.reader(rows, delimiter=%(delimiter)s), draw):
            cell = row[label].strip()
            xs.append([float(c) for i, c in enumerate(row) if i != label])
            ys.append(classes[cell] if classes else float(cell))
            test.append(d < %(test_split)r)
    x = np.asarray(xs, "float32")
    y = np.asarray(ys, "int64" if classes else "float32")
    test = np.asarray(test, bool)
    return x[~test], y[~test], x[test], y[test]
'''


def emit_csv(chunk_rows: int) -> Callable[[DataRequest, DataInfo], Code]:
    """``csv``: the table read row by row, the test rows drawn as netdsl's ``csv_streams`` draws
    them (``chunk_rows``: its lines per chunk, the unit of the seeded draw)."""

    def emit(request: DataRequest, info: DataInfo) -> Code:
        if info.columns:  # a typed table: its preprocessing is not written out (yet)
            from netdsl.errors import EmitError

            raise EmitError(
                "`netdsl emit` writes a numeric CSV's loader; this table's columns ("
                + ", ".join(f"{c.name}: {c.type}" for c in info.columns[:6])
                + (", ..." if len(info.columns) > 6 else "")
                + ") are encoded by preprocessing layers netdsl does not write as code yet",
                help="train it with `netdsl run`; the saved model holds the preprocessing, and "
                "bench/typed_twin.py shows the same model written by hand in Keras",
            )
        a = request.args
        label = f"header.index({json.dumps(a['label'])})" if a.get("label") else "len(header) - 1"
        kind = info.target.kind
        what = (
            "class ids (the names below, in order)"
            if info.class_names
            else "0/1 values"
            if kind == "binary"
            else "class ids"
            if kind == "classes"
            else "float32 values"
        )
        return Code(
            _CSV
            % {
                "default": _default(request, None),
                "default_doc": request.path or "nothing: give --data",
                "what": what,
                "chunk": chunk_rows,
                "test_split": float(a["test_split"]),
                "delimiter": json.dumps(a.get("delimiter", ",")),
                "label": label,
                "classes": json.dumps(list(info.class_names)),
                "seed": int(a["seed"]),
            },
            ("import csv",),
        )

    return emit


# --- npz -----------------------------------------------------------------------------------------

_NPZ = '''
def load_data(path=None):
    """The arrays of the .npz PATH (else %(default_doc)s): x_train, y_train, x_test, y_test,
    or x and y split by test_split %(test_split)r (seed %(seed)d). uint8 images are scaled to [0, 1]."""
    path = path or %(default)s
    with np.load(path, allow_pickle=False) as f:
        arrays = {key: f[key] for key in f.files}

    def features(x):
        if x.dtype == np.uint8 and x.ndim >= 3:
            return x.astype("float32") / np.float32(255.0)
        return x.astype("float32")

    def targets(y):
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if %(one_hot)s and y.ndim == 2:
            y = y.argmax(axis=1)
        return y.astype(%(dtype)s)

    if "x_train" in arrays:
        return (features(arrays["x_train"]), targets(arrays["y_train"]),
                features(arrays["x_test"]), targets(arrays["y_test"]))
    x, y = features(arrays["x"]), targets(arrays["y"])
    train, test = split_seeded(len(y), %(test_split)r, %(seed)d)
    return x[train], y[train], x[test], y[test]
'''


def emit_npz(request: DataRequest, info: DataInfo) -> Code:
    """``npz``: the arrays as :func:`load_npz` reads them."""
    a = request.args
    kind = info.target.kind
    return Code(
        _NPZ
        % {
            "default": _default(request, None),
            "default_doc": request.path or "nothing: give --data",
            "test_split": float(a["test_split"]),
            "seed": int(a["seed"]),
            "one_hot": kind == "classes",
            "dtype": '"int64"' if kind == "classes" else '"float32"',
        },
        (),
        (_SPLIT,),
    )


# --- images --------------------------------------------------------------------------------------

_IMAGES = '''
def load_data(path=None):
    """The picture folder PATH (else %(default_doc)s): one sub-folder per class %(classes)s
    (or train/ and test/ folders of them), %(height)dx%(width)d %(color)s, scaled to [0, 1];
    the test split as netdsl makes it (Keras's, seed %(seed)d, fraction %(test_split)r)."""
    path = path or %(default)s
    options = dict(labels="inferred", label_mode="int", class_names=%(classes)s,
                   color_mode="%(color)s", image_size=(%(height)d, %(width)d), batch_size=None,
                   verbose=False)
    train_dir, test_dir = os.path.join(path, "train"), os.path.join(path, "test")
    # Keras says "Using N files for validation" of what is netdsl's test split: not printed
    with contextlib.redirect_stdout(io.StringIO()):
        if os.path.isdir(train_dir) and os.path.isdir(test_dir):
            train = keras.utils.image_dataset_from_directory(
                train_dir, shuffle=True, seed=%(seed)d, **options)
            test = keras.utils.image_dataset_from_directory(test_dir, shuffle=False, **options)
        else:
            train, test = keras.utils.image_dataset_from_directory(
                path, shuffle=True, seed=%(seed)d, validation_split=%(test_split)r,
                subset="both", **options)

    def arrays(images):
        pairs = [(np.asarray(x), np.asarray(y)) for x, y in images]
        x = np.stack([p[0] for p in pairs]).astype("float32") / np.float32(255.0)
        return x, np.asarray([p[1] for p in pairs], "int64")

    return (*arrays(train), *arrays(test))
'''


def emit_images(colors: dict[str, int]) -> Callable[[DataRequest, DataInfo], Code]:
    """``images``: the folders through Keras's ``image_dataset_from_directory``, as netdsl
    (``colors``: colour mode -> channels)."""

    def emit(request: DataRequest, info: DataInfo) -> Code:
        a = request.args
        height, width, channels = info.input_shape
        color = next(c for c, n in colors.items() if n == channels)
        return Code(
            _IMAGES
            % {
                "default": _default(request, None),
                "default_doc": request.path or "nothing: give --data",
                "classes": json.dumps(list(info.class_names)),
                "height": height,
                "width": width,
                "color": color,
                "seed": int(a["seed"]),
                "test_split": float(a["test_split"]),
            },
            ("import contextlib", "import io", "import os"),
        )

    return emit


# --- the IDX image sets --------------------------------------------------------------------------

#: emitted: the IDX reader the MNIST-format data sets share (MNIST's own emit uses it too)
READ_IDX_CODE = '''
def read_idx(folder, name):
    """One IDX file, NAME.gz or NAME, as a uint8 array."""
    path = os.path.join(folder, name)
    if os.path.isfile(path + ".gz"):
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    dims = np.frombuffer(data, ">u4", count=data[3], offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(dims)
'''

_IDX = (
    READ_IDX_CODE
    + '''

def load_data(path=None):
    """%(title)s: float32 images in [0, 1] shaped (N, 28, 28, 1) and their class ids.

    PATH (else $%(env)s) is a folder holding the four IDX files (train-images-idx3-ubyte.gz
    and friends); without one, Keras downloads the data set.
    """
    path = path or %(default)s
    if not path:
        (x_train, y_train), (x_test, y_test) = keras.datasets.%(keras)s.load_data()
    else:
        x_train = read_idx(path, "train-images-idx3-ubyte")
        y_train = read_idx(path, "train-labels-idx1-ubyte")
        x_test = read_idx(path, "t10k-images-idx3-ubyte")
        y_test = read_idx(path, "t10k-labels-idx1-ubyte")

    def scale(x):
        return x.astype("float32").reshape((-1, 28, 28, 1)) / 255.0

    return scale(x_train), y_train, scale(x_test), y_test
'''
)


def emit_idx(keras_name: str, title: str) -> Callable[[DataRequest, DataInfo], Code]:
    """``load_data`` for an IDX data set (Fashion-MNIST): the four files, else Keras's download."""

    def emit(request: DataRequest, info: DataInfo) -> Code:
        return Code(
            _IDX
            % {
                "title": title,
                "env": request.env,
                "keras": keras_name,
                "default": _default(request, request.env),
            },
            ("import gzip", "import os"),
        )

    return emit


# --- CIFAR ---------------------------------------------------------------------------------------

_CIFAR = '''
def read_batches(path, members, label_key):
    """CIFAR's pickled batches MEMBERS from the archive PATH or its extracted folder."""
    xs, ys = [], []
    if os.path.isdir(path):
        for member in members:
            with open(os.path.join(path, member), "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            xs.append(batch[b"data"])
            ys.append(batch[label_key])
    else:
        with tarfile.open(path) as tar:
            files = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            for member in members:
                batch = pickle.load(tar.extractfile(files[member]), encoding="bytes")
                xs.append(batch[b"data"])
                ys.append(batch[label_key])
    x = np.concatenate(xs).astype("uint8").reshape((-1, 3, 32, 32)).transpose(0, 2, 3, 1)
    return x.astype("float32") / 255.0, np.concatenate(ys).astype("int64")


def load_data(path=None):
    """%(title)s: float32 images in [0, 1] shaped (N, 32, 32, 3) and their class ids.

    PATH (else $%(env)s) is the official %(archive)s, a folder holding it, or the folder
    %(folder)s/ extracted from it; without one, Keras downloads the data set.
    """
    path = path or %(default)s
    if not path:
        (x_train, y_train), (x_test, y_test) = keras.datasets.%(keras)s.load_data(%(keras_args)s)
        return x_train.astype("float32") / 255.0, y_train[:, 0], x_test.astype("float32") / 255.0, y_test[:, 0]
    if os.path.isdir(os.path.join(path, "%(folder)s")):
        path = os.path.join(path, "%(folder)s")
    elif os.path.isfile(os.path.join(path, "%(archive)s")):
        path = os.path.join(path, "%(archive)s")
    x_train, y_train = read_batches(path, %(train)s, b"%(label_key)s")
    x_test, y_test = read_batches(path, [%(test)s], b"%(label_key)s")
    return x_train, y_train, x_test, y_test
'''


def emit_cifar(
    keras_name: str,
    title: str,
    archive: str,
    folder: str,
    train: tuple[str, ...],
    test: str,
    label_key: Callable[[Any], str],
) -> Callable[[DataRequest, DataInfo], Code]:
    """``load_data`` for CIFAR-10 or CIFAR-100: the official batches, else Keras's download."""

    def emit(request: DataRequest, info: DataInfo) -> Code:
        key = label_key(request.args)
        keras_args = f'label_mode="{key.split("_")[0]}"' if keras_name == "cifar100" else ""
        return Code(
            _CIFAR
            % {
                "title": title,
                "env": request.env,
                "keras": keras_name,
                "keras_args": keras_args,
                "archive": archive,
                "folder": folder,
                "train": json.dumps(list(train)),
                "test": json.dumps(test),
                "label_key": key,
                "default": _default(request, request.env),
            },
            ("import os", "import pickle", "import tarfile"),
        )

    return emit


# --- word sequences ------------------------------------------------------------------------------

_WORDS = '''
def words(xs, num_words):
    """Keras's encoding: a start id 1, word ids shifted by 3, ids past num_words as 2."""
    out = []
    for x in xs:
        w = np.asarray(x, np.int64) + 3
        out.append(np.concatenate(([1], np.where(w < num_words, w, 2))))
    return out


def pad(seqs, maxlen):
    """int32 (N, maxlen): zeros in front, the last maxlen ids kept."""
    out = np.zeros((len(seqs), maxlen), np.int32)
    for i, s in enumerate(seqs):
        s = np.asarray(s, np.int64)[-maxlen:]
        if len(s):
            out[i, -len(s) :] = s
    return out


def find_npz(path, name):
    """PATH itself, or NAME inside the folder PATH."""
    return os.path.join(path, name) if os.path.isdir(path) else path
'''

_IMDB = '''
def load_data(path=None):
    """IMDB reviews as word ids (num_words %(num_words)d, maxlen %(maxlen)d) and 0/1 labels, from
    the official imdb.npz at PATH (else $%(env)s), shuffled as Keras does (seed %(seed)d)."""
    path = path or %(default)s
    with np.load(find_npz(path, "imdb.npz"), allow_pickle=True) as f:  # Keras's own file
        parts = [(f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])]
    rng = np.random.RandomState(%(seed)d)
    out = []
    for x, y in parts:
        order = np.arange(len(x))
        rng.shuffle(order)
        out += [pad(words(x[order], %(num_words)d), %(maxlen)d), np.asarray(y, "float32")[order]]
    return tuple(out)
'''

_REUTERS = '''
def load_data(path=None):
    """Reuters newswires as word ids (num_words %(num_words)d, maxlen %(maxlen)d) and topic ids,
    from the official reuters.npz at PATH (else $%(env)s), split by test_split %(test_split)r."""
    path = path or %(default)s
    with np.load(find_npz(path, "reuters.npz"), allow_pickle=True) as f:  # Keras's own file
        x, y = f["x"], f["y"].astype("int64")
    train, test = split_seeded(len(x), %(test_split)r, %(seed)d)
    return (pad(words(x[train], %(num_words)d), %(maxlen)d), y[train],
            pad(words(x[test], %(num_words)d), %(maxlen)d), y[test])
'''


def _sequences(template: str, extra: tuple[str, ...]) -> Callable[[DataRequest, DataInfo], Code]:
    def emit(request: DataRequest, info: DataInfo) -> Code:
        a = request.args
        return Code(
            template
            % {
                **a,
                "test_split": float(a.get("test_split", 0.0)),
                "env": request.env,
                "default": _default(request, request.env),
            },
            ("import os",),
            (_WORDS, *extra),
        )

    return emit


emit_imdb = _sequences(_IMDB, ())
emit_reuters = _sequences(_REUTERS, (_SPLIT,))

# --- tables --------------------------------------------------------------------------------------

_TABLE = '''
def load_data(path=None):
    """%(title)s: the first %(size)d rows of x (%(features)d features) and y from the official
    %(file)s at PATH (else $%(env)s), split by test_split %(test_split)r (seed %(seed)d)."""
    path = path or %(default)s
    with np.load(find_npz(path, "%(file)s"), allow_pickle=False) as f:
        x, y = f["x"][:%(size)d].astype("float32"), f["y"][:%(size)d].astype("float32")
    train, test = split_seeded(len(x), %(test_split)r, %(seed)d)
    return x[train], y[train], x[test], y[test]


def find_npz(path, name):
    """PATH itself, or NAME inside the folder PATH."""
    return os.path.join(path, name) if os.path.isdir(path) else path
'''


def emit_table(
    title: str, file: str, features: int, size: Callable[[Any], int]
) -> Callable[[DataRequest, DataInfo], Code]:
    """``load_data`` for a Keras regression table (boston_housing, california_housing)."""

    def emit(request: DataRequest, info: DataInfo) -> Code:
        a = request.args
        return Code(
            _TABLE
            % {
                "title": title,
                "file": file,
                "features": features,
                "size": size(a),
                "env": request.env,
                "seed": int(a["seed"]),
                "test_split": float(a["test_split"]),
                "default": _default(request, request.env),
            },
            ("import os",),
            (_SPLIT,),
        )

    return emit
