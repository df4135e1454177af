"""The datasets of ``keras.datasets``, by the same names, read from their official files.

``mnist``, ``fashion_mnist`` (IDX files, :mod:`netdsl_builtins.mnist_files`), ``cifar10`` and
``cifar100`` (the python-version archive, or the folder extracted from it), ``imdb`` and ``reuters`` (Keras's ``.npz`` of word-id
sequences), ``boston_housing`` and ``california_housing`` (Keras's ``.npz``, regression).

Each looks, in order, at: the path the user gave (the dataset's ``path`` argument, else
``--data``), its own environment variable (``NETDSL_CIFAR10``, ...), Keras's cache
(``$KERAS_HOME`` or ``~/.keras``, ``datasets/<file>`` as Keras itself names it), then Keras's
download (``keras.utils.get_file`` with the hash Keras checks). A path the user gave that does not
hold the dataset is an error; it never falls through to the next place.

Files that need unpickling (CIFAR's batches, the object arrays of ``imdb.npz``/``reuters.npz``)
are unpickled only after their SHA-256 equals the one Keras publishes (:data:`KNOWN_SHA256`)
(an extracted CIFAR folder: every file's MD5 equals the published one, :data:`KNOWN_FOLDER_MD5`),
and then only with an unpickler that rebuilds NumPy arrays and nothing else; any other such file
is refused. Every other file loads with ``allow_pickle=False``. ``describe`` answers from
constants and the arguments, never from the files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import Npz, path_kind
from netdsl.vocab import types as T
from netdsl.vocab.components import (
    Code,
    DataInfo,
    DataRequest,
    Dataset,
    Param,
    Target,
    Violation,
)

from . import dataset_emit as de
from .dataset_emit import READ_IDX_CODE

if TYPE_CHECKING:  # pragma: no cover - NumPy is imported when data is read, not by `netdsl check`
    import numpy as np

__all__ = [
    "BOSTON_HOUSING",
    "CALIFORNIA_HOUSING",
    "CIFAR10",
    "CIFAR100",
    "FASHION_MNIST",
    "FILES",
    "IMDB",
    "KERAS_DATASETS",
    "KNOWN_FOLDER_MD5",
    "KNOWN_SHA256",
    "MNIST",
    "REUTERS",
    "KerasFile",
    "find_file",
    "pad_sequences",
    "safe_npz",
    "sha256",
    "split_seeded",
]

_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

#: SHA-256 -> (dataset, file): the hashes ``keras.datasets`` checks its downloads against.
#: A file that must be unpickled is read only if its hash is here, for that dataset. Tests add
#: the hashes of the tiny files they build.
KNOWN_SHA256: dict[str, tuple[str, str]] = {
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce": (
        "cifar10",
        "cifar-10-python.tar.gz",
    ),
    "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7": (
        "cifar100",
        "cifar-100-python.tar.gz",
    ),
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f": ("imdb", "imdb.npz"),
    "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916": ("reuters", "reuters.npz"),
    "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5": (
        "boston_housing",
        "boston_housing.npz",
    ),
    "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f": (
        "california_housing",
        "california_housing.npz",
    ),
}


#: dataset -> {file of the extracted archive -> its MD5}: the python batches as ``tar xzf`` leaves
#: them (``cifar-10-batches-py/``, ``cifar-100-python/``). Source: torchvision's
#: ``torchvision/datasets/cifar.py`` (pytorch/vision; ``train_list``, ``test_list``), which
#: checks the same files; looked up there, not from memory. An extracted folder is read only when
#: every file it needs has its hash here. Tests add the hashes of the tiny files they build.
KNOWN_FOLDER_MD5: dict[str, dict[str, str]] = {
    "cifar10": {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}


@dataclass(frozen=True)
class KerasFile:
    """Where one dataset's file lives: the names a user's folder may hold it under, the name in
    Keras's cache (``datasets/<cache_name>``), and how Keras downloads it."""

    dataset: str
    names: tuple[str, ...]
    cache_name: str
    origin: str
    get_file: Mapping[str, Any]  # keyword arguments of keras.utils.get_file
    pickled: bool  # needs unpickling: only with a known hash
    folders: tuple[
        str, ...
    ] = ()  # the archive's extracted folder, as a user's folder or Keras's cache holds it

    @property
    def env(self) -> str:
        return "NETDSL_" + self.dataset.upper()


def _npz(name: str, pickled: bool) -> KerasFile:
    sha = next(h for h, (d, _) in KNOWN_SHA256.items() if d == name)
    return KerasFile(
        name,
        (f"{name}.npz",),
        f"{name}.npz",
        f"{_ORIGIN}{name}.npz",
        {"fname": f"{name}.npz", "file_hash": sha},
        pickled,
    )


def _cifar_file(name: str, archive: str, url: str) -> KerasFile:
    sha = next(h for h, (d, _) in KNOWN_SHA256.items() if d == name)
    target = archive.replace(
        "-python.tar.gz", "-batches-py-target" if name == "cifar10" else "-python-target"
    )
    folder = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    return KerasFile(
        name,
        (archive, f"{target}_archive"),
        f"{target}_archive",
        url,
        {"fname": target, "file_hash": sha, "extract": True},
        True,
        (folder, f"{target}/{folder}"),
    )  # Keras 3 extracts into <target>/<folder>


#: dataset -> where its file lives (the IDX datasets have their own rules in mnist_files)
FILES: Mapping[str, KerasFile] = {
    f.dataset: f
    for f in (
        _cifar_file(
            "cifar10",
            "cifar-10-python.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        ),
        _cifar_file(
            "cifar100",
            "cifar-100-python.tar.gz",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        ),
        _npz("imdb", True),
        _npz("reuters", True),
        _npz("boston_housing", False),
        _npz("california_housing", False),
    )
}


def _keras_datasets_dir() -> list[Path]:
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".keras"
    dirs = [base / "datasets"]
    if not os.access(base, os.W_OK):
        dirs.append(Path("/tmp/.keras/datasets"))  # where Keras writes when its home is read-only
    return dirs


def find_file(
    spec: KerasFile, request: DataRequest, download: Callable[[KerasFile], Path] | None = None
) -> Path:
    """The dataset's file: the user's path, its variable, Keras's cache, else Keras's download."""
    looked: list[str] = []
    given = request.path
    origin = "data source"
    if given:
        origin = "data source"
    else:
        value = os.environ.get(request.env or spec.env, "")
        if value.strip():
            given, origin = value, f"{request.env or spec.env}={value}:"
        else:
            looked.append(f"{request.env or spec.env}: not set")
    if given:
        path = Path(given).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            for name in spec.names:
                if (path / name).is_file():
                    return path / name
            extracted = _extracted(spec, path)
            if extracted is not None:
                return extracted
            also = f", nor an extracted {spec.folders[0]}/" if spec.folders else ""
            raise NetdslDataError(
                f"{origin} {given}: the folder holds none of {', '.join(spec.names)}{also}",
                help=_how_to(spec),
            )
        kind = path_kind(path)
        raise NetdslDataError(
            f"{origin} {given}: "
            + (
                f"is {kind}; expected the file or a folder holding it"
                if kind
                else "no such file or folder"
            ),
            help=_how_to(spec),
        )
    for folder in _keras_datasets_dir():
        candidate = folder / spec.cache_name
        if candidate.is_file():
            return candidate
        for name in spec.folders:
            if (folder / name).is_dir():
                return folder / name
        looked.append(f"Keras cache: {candidate} (not there)")
    try:
        return (download or _download)(spec)
    except Exception as exc:
        looked.append(
            f"download from {spec.origin}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        places = "\n".join(f"  - {p}" for p in looked)
        raise NetdslDataError(
            f"`{spec.dataset}` not found. Looked in:\n{places}", help=_how_to(spec)
        ) from exc


def _extracted(spec: KerasFile, path: Path) -> Path | None:
    """The extracted archive folder at or inside ``path`` (one holding any of its files), or None."""
    files = KNOWN_FOLDER_MD5.get(spec.dataset, {})
    if not spec.folders or not files:
        return None
    for candidate in (path, *(path / name for name in spec.folders)):
        if candidate.is_dir() and any((candidate / name).is_file() for name in files):
            return candidate
    return None


def _how_to(spec: KerasFile) -> str:
    return (
        f"point netdsl at the official {spec.names[0]} with `--data PATH`, the dataset's "
        f"`path` argument, or {spec.env}=PATH (the file, or a folder holding it)"
    )


def _download(spec: KerasFile) -> Path:
    """Keras's own download into its cache (imports TensorFlow); the archive path for CIFAR."""
    import keras

    got = Path(keras.utils.get_file(origin=spec.origin, **spec.get_file))
    return got.parent / spec.cache_name if spec.get_file.get("extract") else got


def sha256(path: Path) -> str:
    """The file's SHA-256, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verified_member(spec: KerasFile, folder: Path, member: str) -> Path:
    """A file of an extracted archive folder, refused unless its MD5 is the published one."""
    path = folder / member
    want = KNOWN_FOLDER_MD5.get(spec.dataset, {}).get(member)
    listed = ", ".join(KNOWN_FOLDER_MD5.get(spec.dataset, {}))
    if not path.is_file():
        raise NetdslDataError(
            f"{path}: missing; an extracted {spec.folders[0]}/ holds {listed}", help=_how_to(spec)
        )
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if want is None or digest != want:
        raise NetdslDataError(
            f"{path}: refused: reading it means unpickling, which netdsl does only for the official "
            f"{spec.folders[0]}/{member}, and this is not the published file (MD5 {digest})",
            help=f"the official {member} has MD5 {want}; extract it again from the official "
            f"{spec.names[0]}, or point netdsl at the archive itself",
        )
    return path


def _verified(spec: KerasFile, path: Path) -> None:
    """Refuse a file that must be unpickled unless its hash is Keras's published one."""
    digest = sha256(path)
    known = KNOWN_SHA256.get(digest)
    if known is not None and known[0] == spec.dataset:
        return
    what = f"it is {known[0]}'s {known[1]}" if known else "it is not the published file"
    raise NetdslDataError(
        f"{path}: refused: reading it means unpickling, which netdsl does only for the official "
        f"{spec.names[0]}, and {what} (SHA-256 {digest})",
        help=f"download the official file (Keras checks SHA-256 {spec.get_file['file_hash']}); "
        "a pickled file from elsewhere could run code when read",
    )


# --- unpickling that rebuilds NumPy arrays and nothing else -----------------------------------

_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that may only rebuild NumPy arrays (after the hash check, a second wall)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to rebuild {module}.{name}")


def _unpickle(stream: io.BytesIO, where: str, **kwargs: Any) -> Any:
    try:
        return _ArraysOnly(stream, **kwargs).load()
    except Exception as exc:
        raise NetdslDataError(f"{where}: cannot be read: {type(exc).__name__}: {exc}") from exc


def safe_npz(path: Path, spec: KerasFile) -> dict[str, np.ndarray]:
    """An ``.npz`` as a dict of arrays: object arrays only from a hash-verified file."""
    import numpy as np

    if not spec.pickled:  # plain numbers: the bounded reader (headers and sizes checked first)
        with Npz(path) as npz:
            return npz.arrays(list(npz.members))
    _verified(spec, path)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                buffer = io.BytesIO(archive.read(member))
                try:
                    out[member[:-4]] = np.lib.format.read_array(buffer, allow_pickle=False)
                except ValueError:
                    buffer.seek(0)
                    version = np.lib.format.read_magic(buffer)
                    reader = (
                        np.lib.format.read_array_header_1_0
                        if version[0] == 1
                        else np.lib.format.read_array_header_2_0
                    )
                    reader(buffer)
                    out[member[:-4]] = _unpickle(buffer, f"{path}: {member}")
    except NetdslDataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise NetdslDataError(
            f"{path}: cannot read as {spec.names[0]}: {type(exc).__name__}: {exc}",
            help=_how_to(spec),
        ) from exc
    return out


def _arrays(
    got: Mapping[str, np.ndarray], keys: tuple[str, ...], path: Path, spec: KerasFile
) -> list[np.ndarray]:
    missing = [k for k in keys if k not in got]
    if missing:
        raise NetdslDataError(
            f"{path}: missing array(s) {', '.join(missing)}; {spec.names[0]} holds "
            f"{', '.join(keys)} (found: {', '.join(sorted(got)) or 'nothing'})"
        )
    return [got[k] for k in keys]


def split_seeded(n: int, test_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keras's split: shuffle ``range(n)`` with ``RandomState(seed)``, the last ``test_split`` is test."""
    import numpy as np

    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    cut = int(n * (1 - test_split))
    return order[:cut], order[cut:]


def pad_sequences(seqs: Any, maxlen: int) -> np.ndarray:
    """Word-id sequences as ``int32 (N, maxlen)``: zeros in front, the last ``maxlen`` ids kept
    (``keras.utils.pad_sequences`` with padding and truncating "pre")."""
    import numpy as np

    out = np.zeros((len(seqs), maxlen), np.int32)
    for i, s in enumerate(seqs):
        s = np.asarray(s, np.int64)[-maxlen:]
        if s.size:
            out[i, -s.size :] = s
    return out


# --- images ------------------------------------------------------------------------------------


def _scaled(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import numpy as np

    out = x.astype(np.float32).reshape((len(x), *shape))
    out /= 255.0
    return out


_MNIST_CODE = (
    READ_IDX_CODE
    + '''

def has_idx(folder):
    """Whether FOLDER holds the MNIST IDX files (else it holds mnist.npz)."""
    name = os.path.join(folder, "train-images-idx3-ubyte")
    return os.path.isfile(name) or os.path.isfile(name + ".gz")


def load_data(path=None):
    """MNIST: float32 images in [0, 1] shaped (N, 28, 28, 1) and their digits.

    PATH (else $%(env)s) is a folder holding the four IDX files
    (train-images-idx3-ubyte.gz and friends) or mnist.npz, or mnist.npz itself;
    without one, Keras downloads MNIST.
    """
    path = path or %(default)s
    if not path:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    elif os.path.isdir(path) and has_idx(path):
        x_train = read_idx(path, "train-images-idx3-ubyte")
        y_train = read_idx(path, "train-labels-idx1-ubyte")
        x_test = read_idx(path, "t10k-images-idx3-ubyte")
        y_test = read_idx(path, "t10k-labels-idx1-ubyte")
    else:
        npz = os.path.join(path, "mnist.npz") if os.path.isdir(path) else path
        with np.load(npz) as f:
            x_train, y_train = f["x_train"], f["y_train"]
            x_test, y_test = f["x_test"], f["y_test"]

    def scale(x):
        return x.astype("float32").reshape((-1, 28, 28, 1)) / 255.0

    return scale(x_train), y_train, scale(x_test), y_test
'''
)


def emit_mnist(request: DataRequest, info: DataInfo) -> Code:
    """``load_data(path)`` for ``netdsl emit``: the same files as netdsl reads (or a download)."""
    env = request.env or "NETDSL_MNIST"
    default = f'os.environ.get("{env}")'
    if request.path:
        default = f"{json.dumps(request.path)} or {default}"
    code = _MNIST_CODE % {"env": env, "default": default}
    classes = request.args.get("classes")
    if classes is not None:
        code = code.replace("def load_data(path=None):", "def load_all(path=None):") + (
            _KEEP_CLASSES_CODE % {"classes": list(classes)}
        )
    return Code(code, ("import gzip", "import os"))


#: ``mnist(classes=[...])`` in ``netdsl emit``: the examples of those classes, renumbered
_KEEP_CLASSES_CODE = """

def keep_classes(x, y, classes):
    \"\"\"The examples of CLASSES only, their labels renumbered 0.. in that order.\"\"\"
    table = np.full(10, -1)
    table[classes] = np.arange(len(classes))
    keep = table[y] >= 0
    return x[keep], table[y[keep]]


def load_data(path=None):
    \"\"\"MNIST's images of the digits %(classes)s, labelled 0.. in that order.\"\"\"
    x_train, y_train, x_test, y_test = load_all(path)
    return (*keep_classes(x_train, y_train, %(classes)s),
            *keep_classes(x_test, y_test, %(classes)s))
"""


#: training images of each class, for the train size of a class subset (``mnist(classes=...)``)
CLASS_COUNTS = {
    "mnist": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "fashion_mnist": (6000,) * 10,
}
TEST_COUNTS = {
    "mnist": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    "fashion_mnist": (1000,) * 10,
}


def _distinct_classes(args: Mapping[str, Any]) -> Iterable[Violation]:
    """``classes=[...]`` keeps at least two classes, each once."""
    classes = args.get("classes")
    if classes is None:
        return
    if len(set(classes)) != len(classes):
        yield Violation("classes", "a class is listed twice", help="list each class once")
    elif len(classes) < 2:
        yield Violation("classes", "keep at least 2 classes", help="e.g. `classes=[0, 1]`")


def keep_classes(
    x: np.ndarray, y: np.ndarray, classes: Sequence[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The examples of ``classes`` only, their labels renumbered 0.. in the order given."""
    import numpy as np

    if classes is None:
        return x, y
    table = np.full(max(10, int(y.max()) + 1), -1, dtype=np.int64)
    table[list(classes)] = np.arange(len(classes))
    keep = table[y] >= 0
    return x[keep], table[y[keep]].astype(y.dtype)


def _idx_dataset(
    name: str,
    spec_name: str,
    env: str,
    npz: bool,
    class_names: tuple[str, ...],
    title: str,
    emit: Any = None,
) -> Dataset:
    def describe(request: DataRequest) -> DataInfo:
        classes = request.args.get("classes")
        if classes is None:
            return DataInfo(
                (28, 28, 1), Target("classes", 10), train_size=60_000, class_names=class_names
            )
        return DataInfo(
            (28, 28, 1),
            Target("classes", len(classes)),
            train_size=sum(CLASS_COUNTS[name][c] for c in classes),
            class_names=tuple(class_names[c] for c in classes),
            test_size=sum(TEST_COUNTS[name][c] for c in classes),
        )

    def load(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
        from . import mnist_files as mf

        spec = getattr(mf, spec_name)
        m = mf.load_idx_dataset(spec, request.path, env=request.env or spec.env)
        classes = request.args.get("classes")
        x_train, y_train = keep_classes(m.x_train, m.y_train, classes)
        x_test, y_test = keep_classes(m.x_test, m.y_test, classes)
        return (
            _scaled(x_train, (28, 28, 1)),
            y_train,
            _scaled(x_test, (28, 28, 1)),
            y_test,
        )

    return Dataset(
        name=name,
        describe=describe,
        load=load,
        env=env,
        emit=emit,
        description=(
            f"{title}: 60,000 training and 10,000 test images, 28x28 grey, 10 classes. "
            f"Read from its path argument or --data PATH, else ${env} (the four IDX "
            f".gz files{' or mnist.npz' if npz else ''}), else Keras's cache, "
            "else downloaded by Keras."
        ),
        params=(
            Param(
                "path",
                T.Str(),
                None,
                positional=True,
                help="a folder with the four IDX files"
                + (" or mnist.npz, or the .npz itself" if npz else ""),
            ),
            Param(
                "classes",
                T.ListOf(T.Int(min=0, max=9)),
                None,
                help="keep these classes only, their labels renumbered 0.. in this order "
                "(`classes=[5, 6, 7, 8, 9]`)",
            ),
        ),
        rules=(_distinct_classes,),
    )


MNIST = _idx_dataset(
    "mnist",
    "MNIST_SPEC",
    "NETDSL_MNIST",
    True,
    tuple(str(d) for d in range(10)),
    "MNIST handwritten digits",
    emit=emit_mnist,
)
FASHION_MNIST = _idx_dataset(
    "fashion_mnist",
    "FASHION_MNIST_SPEC",
    "NETDSL_FASHION_MNIST",
    False,
    (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "Fashion-MNIST (Zalando's clothing pictures)",
    emit=de.emit_idx("fashion_mnist", "Fashion-MNIST"),
)

_CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _cifar_batches(
    path: Path,
    spec: KerasFile,
    members: tuple[str, ...],
    label_key: str,
) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR pickled batches read from the verified archive, or from its extracted folder with
    every file verified: images ``(N, 32, 32, 3)`` uint8."""
    import tarfile

    import numpy as np

    xs, ys = [], []

    def add(d: Any, where: str, member: str) -> None:
        if not isinstance(d, dict) or b"data" not in d or label_key.encode() not in d:
            raise NetdslDataError(f"{where}: {member} is not a CIFAR batch (no data/{label_key})")
        xs.append(np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key.encode()], np.int64))

    if path.is_dir():  # the extracted archive: each file checked against its published MD5
        for member in members:
            file = _verified_member(spec, path, member)
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise NetdslDataError(f"{file}: cannot read: {exc.strerror or exc}") from exc
            try:
                add(_unpickle(io.BytesIO(data), str(file), encoding="bytes"), str(path), member)
            except ValueError as exc:
                raise NetdslDataError(f"{file}: cannot read as a CIFAR batch: {exc}") from exc
        return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)
    _verified(spec, path)
    try:
        with tarfile.open(path, "r:*") as tar:
            names = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for member in members:
                info = names.get(member)
                if info is None:
                    raise NetdslDataError(f"{path}: the archive has no `{member}`")
                f = tar.extractfile(info)
                assert f is not None
                add(
                    _unpickle(io.BytesIO(f.read()), f"{path}: {member}", encoding="bytes"),
                    str(path),
                    member,
                )
    except NetdslDataError:
        raise
    except (OSError, tarfile.TarError, EOFError, ValueError, zlib.error) as exc:
        raise NetdslDataError(
            f"{path}: cannot read as {spec.names[0]}: {type(exc).__name__}: {exc}"
        ) from exc
    return np.concatenate(xs).transpose(0, 2, 3, 1), np.concatenate(ys)


def _cifar(
    name: str,
    classes: Callable[[Mapping[str, Any]], int],
    train: tuple[str, ...],
    test: str,
    label_key: Callable[[Mapping[str, Any]], str],
    names: tuple[str, ...],
    doc: str,
    params: tuple[Param, ...] = (),
) -> Dataset:
    spec = FILES[name]

    def describe(request: DataRequest) -> DataInfo:
        n = classes(request.args)
        return DataInfo(
            (32, 32, 3),
            Target("classes", n),
            train_size=50_000,
            class_names=names if len(names) == n else (),
        )

    def load(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
        path = find_file(spec, request)
        key = label_key(request.args)
        x_train, y_train = _cifar_batches(path, spec, train, key)
        x_test, y_test = _cifar_batches(path, spec, (test,), key)
        n = info.target.num_classes
        for y, where in ((y_train, "training"), (y_test, "test")):
            if y.size and (y.min() < 0 or y.max() >= n):
                raise NetdslDataError(
                    f"{path}: a {where} label is {int(y.max())}, outside 0..{n - 1}"
                )
        return _scaled(x_train, (32, 32, 3)), y_train, _scaled(x_test, (32, 32, 3)), y_test

    emit = de.emit_cifar(
        name,
        name.upper().replace("CIFAR", "CIFAR-"),
        spec.names[0],
        spec.folders[0],
        train,
        test,
        label_key,
    )
    return Dataset(
        name=name,
        describe=describe,
        load=load,
        env=spec.env,
        description=doc,
        emit=emit,
        params=(
            Param(
                "path",
                T.Str(),
                None,
                positional=True,
                help=f"{spec.names[0]} (the official archive), a folder holding it, or "
                f"the folder {spec.folders[0]}/ extracted from it",
            ),
            *params,
        ),
    )


CIFAR10 = _cifar(
    "cifar10",
    lambda a: 10,
    tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test_batch",
    lambda a: "labels",
    _CIFAR10_NAMES,
    "CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, 10 classes. Read from the "
    "official cifar-10-python.tar.gz (its SHA-256 checked before anything is unpickled) or its "
    "extracted cifar-10-batches-py/ (each file's published MD5 checked first).",
)
CIFAR100 = _cifar(
    "cifar100",
    lambda a: 100 if a.get("label_mode", "fine") == "fine" else 20,
    ("train",),
    "test",
    lambda a: f"{a.get('label_mode', 'fine')}_labels",
    (),
    "CIFAR-100: 50,000 training and 10,000 test colour images, 32x32, 100 fine or 20 coarse "
    "classes. Read from the official cifar-100-python.tar.gz (its SHA-256 checked first) or its "
    "extracted cifar-100-python/ (each file's MD5 checked first).",
    (
        Param(
            "label_mode",
            T.Choice(("fine", "coarse")),
            "fine",
            help="fine: 100 classes; coarse: 20 superclasses",
        ),
    ),
)


# --- word sequences ----------------------------------------------------------------------------

_START, _OOV, _INDEX_FROM = 1, 2, 3


def _words(xs: Any, num_words: int) -> list[np.ndarray]:
    """Keras's encoding: a start id, ids shifted by 3, ids past ``num_words`` as the OOV id."""
    import numpy as np

    out = []
    for x in xs:
        w = np.asarray(x, np.int64) + _INDEX_FROM
        w = np.where(w < num_words, w, _OOV)
        out.append(np.concatenate(([_START], w)))
    return out


def _sequence_params(num_words: int, maxlen: int) -> tuple[Param, ...]:
    return (
        Param(
            "path", T.Str(), None, positional=True, help="the official .npz or a folder holding it"
        ),
        Param(
            "num_words",
            T.Int(min=4, max=10_000_000),
            num_words,
            help="keep the most frequent words; rarer ones become the out-of-vocabulary id 2",
        ),
        Param(
            "maxlen",
            T.Int(min=1, max=1_000_000),
            maxlen,
            help="sequence length: longer reviews keep their last words, shorter are padded with 0",
        ),
        Param("seed", T.Int(min=0, max=2**32 - 1), 113, help="shuffle seed (Keras's default 113)"),
    )


def _imdb_describe(request: DataRequest) -> DataInfo:
    return DataInfo(
        (request.args["maxlen"],),
        Target("binary"),
        train_size=25_000,
        class_names=("negative", "positive"),
        vocabulary=request.args["num_words"],
    )


def _imdb_load(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
    import numpy as np

    spec, a = FILES["imdb"], request.args
    path = find_file(spec, request)
    x_train, y_train, x_test, y_test = _arrays(
        safe_npz(path, spec), ("x_train", "y_train", "x_test", "y_test"), path, spec
    )
    rng = np.random.RandomState(a["seed"])
    out = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        order = np.arange(len(x))
        rng.shuffle(order)
        out += [
            pad_sequences(_words(x[order], a["num_words"]), a["maxlen"]),
            np.asarray(y, np.float32)[order],
        ]
    return tuple(out)


def _reuters_describe(request: DataRequest) -> DataInfo:
    return DataInfo(
        (request.args["maxlen"],),
        Target("classes", 46),
        train_size=int(11_228 * (1 - request.args["test_split"])),
        vocabulary=request.args["num_words"],
    )


def _reuters_load(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
    import numpy as np

    spec, a = FILES["reuters"], request.args
    path = find_file(spec, request)
    x, y = _arrays(safe_npz(path, spec), ("x", "y"), path, spec)
    train, test = split_seeded(len(x), a["test_split"], a["seed"])
    y = np.asarray(y, np.int64)
    if y.size and (y.min() < 0 or y.max() >= 46):
        raise NetdslDataError(f"{path}: a topic label is {int(y.max())}, outside 0..45")
    return (
        pad_sequences(_words(x[train], a["num_words"]), a["maxlen"]),
        y[train],
        pad_sequences(_words(x[test], a["num_words"]), a["maxlen"]),
        y[test],
    )


IMDB = Dataset(
    name="imdb",
    describe=_imdb_describe,
    load=_imdb_load,
    env=FILES["imdb"].env,
    emit=de.emit_imdb,
    description="IMDB movie reviews: 25,000 training and 25,000 test reviews as word-id "
    "sequences, positive or negative (binary). Read from the official imdb.npz "
    "(its SHA-256 checked before its object arrays are unpickled).",
    params=_sequence_params(10_000, 200),
)
REUTERS = Dataset(
    name="reuters",
    describe=_reuters_describe,
    load=_reuters_load,
    env=FILES["reuters"].env,
    emit=de.emit_reuters,
    description="Reuters newswires: 11,228 word-id sequences in 46 topics, split by test_split. "
    "Read from the official reuters.npz (its SHA-256 checked first).",
    params=(
        *_sequence_params(10_000, 200),
        Param("test_split", T.Float(min=0.0, max=0.99), 0.2, help="fraction held out for test"),
    ),
)


# --- tables (regression) -----------------------------------------------------------------------


def _table(
    name: str, features: int, total: int, doc: str, params: tuple[Param, ...] = ()
) -> Dataset:
    spec = FILES[name]

    def size(a: Mapping[str, Any]) -> int:
        return 600 if a.get("version") == "small" else total

    def describe(request: DataRequest) -> DataInfo:
        return DataInfo(
            (features,),
            Target("regression", shape=(1,)),
            train_size=int(size(request.args) * (1 - request.args["test_split"])),
        )

    def load(request: DataRequest, info: DataInfo) -> tuple[np.ndarray, ...]:
        import numpy as np

        a = request.args
        path = find_file(spec, request)
        x, y = _arrays(safe_npz(path, spec), ("x", "y"), path, spec)
        if x.ndim != 2 or x.shape[1] != features or len(y) != len(x):
            raise NetdslDataError(
                f"{path}: x is {x.shape} and y {y.shape}; {spec.names[0]} has "
                f"(N, {features}) features and N targets"
            )
        x, y = x[: size(a)].astype(np.float32), y[: size(a)].astype(np.float32)
        train, test = split_seeded(len(x), a["test_split"], a["seed"])
        return x[train], y[train], x[test], y[test]

    emit = de.emit_table(name, spec.names[0], features, size)
    return Dataset(
        name=name,
        describe=describe,
        load=load,
        env=spec.env,
        description=doc,
        emit=emit,
        params=(
            Param(
                "path",
                T.Str(),
                None,
                positional=True,
                help="the official .npz or a folder holding it",
            ),
            Param("test_split", T.Float(min=0.0, max=0.99), 0.2, help="fraction held out for test"),
            Param(
                "seed", T.Int(min=0, max=2**32 - 1), 113, help="split seed (Keras's default 113)"
            ),
            *params,
        ),
    )


BOSTON_HOUSING = _table(
    "boston_housing",
    13,
    506,
    "Boston house prices (regression): 506 rows of 13 features, the target in k$, split by "
    "test_split. Read from Keras's boston_housing.npz.",
)
CALIFORNIA_HOUSING = _table(
    "california_housing",
    8,
    20_640,
    "California house values (regression): 20,640 block groups of 8 features (the `small` "
    "version: the first 600). Read from Keras's california_housing.npz.",
    (Param("version", T.Choice(("large", "small")), "large", help="all rows, or the first 600"),),
)

#: every dataset of keras.datasets, registered by netdsl_builtins.datasets
KERAS_DATASETS = (
    MNIST,
    FASHION_MNIST,
    CIFAR10,
    CIFAR100,
    IMDB,
    REUTERS,
    BOSTON_HOUSING,
    CALIFORNIA_HOUSING,
)
