"""IDX datasets of 28x28 grey images (``mnist``, ``fashion_mnist``): the official IDX files or
Keras's ``mnist.npz``, read and checked with NumPy alone. One :class:`IdxSpec` per dataset says
its name, environment variable, where Keras caches it, and how to download it.

Where it looks, in order: the ``source`` argument (``netdsl run --data PATH``), the dataset's own
environment variable (``NETDSL_MNIST``, ``NETDSL_FASHION_MNIST``), Keras's cache (``$KERAS_HOME``
or ``~/.keras``, then ``datasets/mnist.npz`` or ``datasets/fashion-mnist/``, the layout Keras
writes), and last Keras's ``load_data()`` (a download). A path the user gave that does not hold
the dataset is an error at once; it never falls through to the others.

MNIST and Fashion-MNIST use the same four IDX file names. They are told apart by where they
live (each has its own variable and cache folder) and by content: a ``.gz`` file whose MD5 is
the published one of the *other* dataset (:data:`KNOWN_IDX_MD5`) is refused.

A path names either a folder holding the four IDX files (``train-images-idx3-ubyte.gz`` and
friends, gzip-compressed or not) or ``mnist.npz``, or the ``.npz`` file itself. Every defect
(corrupt gzip, wrong magic, truncation, extra bytes, count mismatch, label out of range) is a
:class:`~netdsl.errors.NetdslDataError` that names the file. Arrays come back raw (``uint8``)
and read-only, since decoded files are cached in-process; :func:`scale_images` and
training encodes the labels for the loss. TensorFlow is imported only for the
download.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from netdsl.errors import NetdslDataError
from netdsl.keras.datafiles import Npz, path_kind

__all__ = [
    "ENV_VAR",
    "FASHION_MNIST_SPEC",
    "IDX_FILES",
    "IMAGE_SIZE",
    "KNOWN_IDX_MD5",
    "MAX_BYTES",
    "MNIST_SPEC",
    "NPZ_NAME",
    "NUM_CLASSES",
    "IdxSpec",
    "MnistArrays",
    "clear_cache",
    "download_fashion_mnist",
    "download_mnist",
    "keras_cache_paths",
    "load_idx_dataset",
    "load_mnist",
    "load_npz",
    "read_idx",
    "scale_images",
]

ENV_VAR = "NETDSL_MNIST"
NPZ_NAME = "mnist.npz"
IMAGE_SIZE = (28, 28)
NUM_CLASSES = 10
KEYS = ("x_train", "y_train", "x_test", "y_test")
#: array name -> official IDX file name (without ``.gz``)
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
#: the most bytes one MNIST input may hold, on disk or decompressed (an IDX body, an .npz
#: member); anything larger is refused before it is read or decompressed
MAX_BYTES = 256 * 2**20
_LARGEST_IDX = 16 + 60_000 * 28 * 28  # train-images-idx3-ubyte
_EXTRA_PROBE = 2**20  # bytes read past the declared end to say how many extra follow
_IDX_UBYTE = 0x08
_IDX_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "short",
    0x0C: "int",
    0x0D: "float",
    0x0E: "double",
}

_CacheKey = tuple[tuple[str, int, int], ...]
_CACHE: dict[tuple[str, _CacheKey], MnistArrays] = {}
_CACHE_SIZE = 4

#: the MD5 of each official ``.gz`` IDX file -> (dataset, file name), as published by the authors
#: (Yann LeCun's MNIST page; Zalando's Fashion-MNIST README). A file with another dataset's MD5
#: is refused. Tests extend this table to stand in for the real files.
KNOWN_IDX_MD5: dict[str, tuple[str, str]] = {
    "f68b3c2dcbeaaa9fbdd348bbdeb94873": ("mnist", "train-images-idx3-ubyte.gz"),
    "d53e105ee54ea40749a09fcbcd1e9432": ("mnist", "train-labels-idx1-ubyte.gz"),
    "9fb629c4189551a2d022fa330f9573f3": ("mnist", "t10k-images-idx3-ubyte.gz"),
    "ec29112dd5afa0611ce80d1b7f02629c": ("mnist", "t10k-labels-idx1-ubyte.gz"),
    "8d4fb7e6c68d591d4c3dfef9ec88bf0d": ("fashion_mnist", "train-images-idx3-ubyte.gz"),
    "25c81989df183df01b3e8a0aad5dffbe": ("fashion_mnist", "train-labels-idx1-ubyte.gz"),
    "bef4ecab320f06d8554ea6380940ec79": ("fashion_mnist", "t10k-images-idx3-ubyte.gz"),
    "bb300cfdad3c16e7a12a480ee83cd310": ("fashion_mnist", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class IdxSpec:
    """One IDX dataset: its name, title for messages, variable, Keras cache entry (a file or a
    folder under ``datasets/``), whether an ``.npz`` is accepted, and the download function's
    name in this module (looked up at call time, so tests can replace it)."""

    name: str
    title: str
    env: str
    cache_entry: str
    npz_name: str | None
    download: str

    @property
    def how_to(self) -> str:
        """How to point netdsl at a copy of this dataset."""
        npz = f" or {self.npz_name}, or {self.npz_name} itself" if self.npz_name else ""
        return (
            f"Point netdsl at a copy with `--data PATH` or `{self.env}=PATH`, where PATH is a folder\n"
            "holding the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz){npz}."
        )


MNIST_SPEC = IdxSpec("mnist", "MNIST", ENV_VAR, NPZ_NAME, NPZ_NAME, "download_mnist")
FASHION_MNIST_SPEC = IdxSpec(
    "fashion_mnist",
    "Fashion-MNIST",
    "NETDSL_FASHION_MNIST",
    "fashion-mnist",
    None,
    "download_fashion_mnist",
)
_HOW_TO = MNIST_SPEC.how_to


class MnistArrays(NamedTuple):
    """MNIST as raw read-only arrays: images ``uint8 (N, 28, 28)``, labels ``uint8 (N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_mnist(source: str | os.PathLike[str] | None = None, *, env: str = ENV_VAR) -> MnistArrays:
    """MNIST from ``source``, else ``$NETDSL_MNIST``, else Keras's cache, else a Keras download."""
    return load_idx_dataset(MNIST_SPEC, source, env=env)


def load_idx_dataset(
    spec: IdxSpec, source: str | os.PathLike[str] | None = None, *, env: str | None = None
) -> MnistArrays:
    """The dataset ``spec`` from ``source``, else its variable, else Keras's cache, else a download."""
    env = env or spec.env
    if source is not None:
        return _load_path(
            spec, Path(os.fspath(source)).expanduser(), f"data source {os.fspath(source)}"
        )
    value = os.environ.get(env, "")
    if value.strip():
        return _load_path(spec, Path(value).expanduser(), f"{env}={value}")
    looked = [f"{env}: not set"]
    for path in keras_cache_paths(spec.cache_entry):
        if path.exists():
            return _load_path(spec, path, f"Keras cache {path}")
        looked.append(f"Keras cache: {path} (not there)")
    try:
        arrays = globals()[spec.download]()
    except Exception as exc:
        looked.append(f"download via keras.datasets.{spec.name}.load_data(): {_describe(exc)}")
        raise NetdslDataError(_not_found_message(looked, spec)) from exc
    return _checked(dict(zip(KEYS, arrays)), f"keras.datasets.{spec.name}.load_data()", spec)


def _not_found_message(looked: Sequence[str], spec: IdxSpec = MNIST_SPEC) -> str:
    """The multi-line "MNIST not found" message: every place looked, then how to fix it."""
    lines = "\n".join(f"  - {place}" for place in looked)
    return f"{spec.title} not found. Looked in:\n{lines}\n{spec.how_to}"


def _describe(exc: BaseException) -> str:
    """An exception as one short line: its type and first line of text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def keras_cache_paths(entry: str = NPZ_NAME) -> list[Path]:
    """Where Keras keeps ``datasets/<entry>``: ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras``
    fallback, where Keras downloads when its home is not writable)."""
    home = os.environ.get("KERAS_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".keras"
    paths = [base / "datasets" / entry]
    fallback = Path("/tmp/.keras/datasets") / entry
    if not os.access(base, os.W_OK) and fallback not in paths:
        paths.append(fallback)  # where Keras downloads when its home is not writable
    return paths


def download_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Download MNIST with Keras (imports TensorFlow); ``(x_train, y_train, x_test, y_test)``."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return x_train, y_train, x_test, y_test


def download_fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Download Fashion-MNIST with Keras (imports TensorFlow)."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return x_train, y_train, x_test, y_test


def _load_path(spec: IdxSpec, path: Path, origin: str) -> MnistArrays:
    """The dataset from a path the user named (a folder, or an ``.npz`` file); errors, never falls through."""
    how_to = spec.how_to
    kind = path_kind(path)
    if kind is None:
        raise NetdslDataError(f"{origin}: {path}: no such file or folder", help=how_to)
    if kind not in ("a file", "a folder"):
        raise NetdslDataError(
            f"{origin}: {path} is {kind}; expected a folder of the four IDX files"
            + (f" or {spec.npz_name}" if spec.npz_name else ""),
            help=how_to,
        )
    if path.is_file():
        if path.name.removesuffix(".gz") in IDX_FILES.values():
            raise NetdslDataError(
                f"{origin}: {path} is a single IDX file; {spec.title} needs all four",
                help=f"pass the folder that holds it: {path.parent}",
            )
        if spec.npz_name is None:
            raise NetdslDataError(
                f"{origin}: {path} is a file; {spec.title} is a folder of four IDX files",
                help=how_to,
            )
        return load_npz(path)
    found = {key: _find_idx(path, name) for key, name in IDX_FILES.items()}
    if all(found.values()):
        return _load_idx_folder({k: p for k, p in found.items() if p is not None}, spec)
    if spec.npz_name and (path / spec.npz_name).is_file():
        return load_npz(path / spec.npz_name)
    present = [p.name for p in found.values() if p is not None]
    if present:
        missing = ", ".join(f"{n}[.gz]" for k, n in IDX_FILES.items() if found[k] is None)
        raise NetdslDataError(
            f"{origin}: {path} holds {', '.join(present)} but is missing {missing}", help=how_to
        )
    holds = f"the four {spec.title} IDX files" + (f" nor {spec.npz_name}" if spec.npz_name else "")
    raise NetdslDataError(
        f"{origin}: {path} holds neither {holds}"
        if spec.npz_name
        else f"{origin}: {path} does not hold {holds}",
        help=how_to,
    )


def _refuse_foreign(files: dict[str, Path], spec: IdxSpec) -> None:
    """Refuse a ``.gz`` file whose MD5 is another dataset's published one (MNIST given as
    Fashion-MNIST, or the reverse: same file names, different data)."""
    for path in files.values():
        if path.suffix != ".gz":
            continue
        digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        owner = KNOWN_IDX_MD5.get(digest)
        if owner is not None and owner[0] != spec.name:
            raise NetdslDataError(
                f"{path} is {owner[0]}'s {owner[1]} (its MD5 {digest} is the published one), "
                f"not {spec.title}'s",
                help=f"`{spec.name}` and `{owner[0]}` use the same file names; point "
                f"`--data`/{spec.env} at a folder with {spec.title}'s own files",
            )


def _find_idx(folder: Path, name: str) -> Path | None:
    """The IDX file ``name`` in ``folder``: uncompressed if present (faster), else ``name.gz``."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _cache_key(paths: Sequence[Path]) -> _CacheKey:
    """Identity of a set of files for the in-process cache: path, size, modification time."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _remember(key: tuple[str, _CacheKey], arrays: MnistArrays) -> MnistArrays:
    """Store decoded arrays in the small in-process cache (oldest entry dropped first)."""
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = arrays
    return arrays


def clear_cache() -> None:
    """Forget every decoded dataset held in this process."""
    _CACHE.clear()


def _load_idx_folder(files: dict[str, Path], spec: IdxSpec = MNIST_SPEC) -> MnistArrays:
    """The four IDX files, decoded in parallel (zlib releases the GIL) and checked as pairs."""
    key = _cache_key([files[k] for k in KEYS])
    if (spec.name, key) in _CACHE:
        return _CACHE[(spec.name, key)]
    _refuse_foreign(files, spec)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            k: pool.submit(read_idx, files[k], ndim=3 if k.startswith("x") else 1) for k in KEYS
        }
        arrays = {k: f.result() for k, f in futures.items()}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if len(x) != len(y):
            raise NetdslDataError(
                f"{files[f'x_{part}']} holds {len(x)} images but {files[f'y_{part}'].name} "
                f"holds {len(y)} labels; they must match one to one"
            )
    return _remember((spec.name, key), MnistArrays(*(arrays[k] for k in KEYS)))


def _too_large(path: Path, size: int, what: str) -> NetdslDataError:
    return NetdslDataError(
        f"{path}: {what} {size:,} bytes, over the {MAX_BYTES:,}-byte limit for one MNIST file "
        f"(MNIST's largest is {_LARGEST_IDX:,} bytes uncompressed); refused without reading it",
        help="this is not MNIST, or the file is damaged",
    )


def _open_idx(path: Path) -> BinaryIO | gzip.GzipFile:
    """The IDX file as a stream of its (decompressed) bytes; refuses a file over the limit first."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _too_large(path, size, "the file is")
        # a GzipFile decompresses as it is read, never the whole file at once
        return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except OSError as exc:
        raise NetdslDataError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def _read(stream: BinaryIO | gzip.GzipFile, n: int, path: Path) -> bytes:
    """At most ``n`` bytes of the stream; a damaged gzip stream is a NetdslDataError."""
    try:
        return stream.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise NetdslDataError(
            f"{path}: not a valid gzip file ({_describe(exc)})",
            help="download it again; the copy is damaged",
        ) from exc


def read_idx(path: str | os.PathLike[str], *, ndim: int) -> np.ndarray:
    """One MNIST IDX file (``ndim`` 3 for images, 1 for labels) as a read-only uint8 array.

    Bounded by what the header declares: the header is read first, then exactly the bytes it
    declares (and at most :data:`_EXTRA_PROBE` more, to report extra bytes), so a gzip bomb costs
    no more memory than an honest file; a declaration over :data:`MAX_BYTES` is refused."""
    path = Path(path)
    with _open_idx(path) as stream:
        return _read_idx(stream, path, ndim)


def _read_idx(stream: BinaryIO | gzip.GzipFile, path: Path, ndim: int) -> np.ndarray:
    what = "images" if ndim == 3 else "labels"
    magic = _read(stream, 4, path)
    if len(magic) < 4:
        raise NetdslDataError(f"{path}: {len(magic)} bytes is too short for an IDX header")
    expected_magic = bytes((0, 0, _IDX_UBYTE, ndim))
    if magic[:2] != b"\0\0":
        raise NetdslDataError(
            f"{path}: not an IDX file: magic bytes are {magic.hex(' ')}, "
            f"expected {expected_magic.hex(' ')}"
        )
    if magic[2] != _IDX_UBYTE:
        kind = _IDX_TYPES.get(magic[2], "unknown")
        raise NetdslDataError(
            f"{path}: IDX data type is 0x{magic[2]:02x} ({kind}); MNIST {what} are "
            f"0x{_IDX_UBYTE:02x} (unsigned byte)"
        )
    if magic[3] != ndim:
        raise NetdslDataError(
            f"{path}: IDX file has {magic[3]} dimension(s); MNIST {what} have {ndim}"
        )
    header = 4 + 4 * ndim
    rest = _read(stream, header - 4, path)
    if len(rest) < header - 4:
        raise NetdslDataError(
            f"{path}: truncated: the IDX header needs {header} bytes, the file has {4 + len(rest)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(rest, ">u4", count=ndim))
    if ndim == 3 and dims[1:] != IMAGE_SIZE:
        raise NetdslDataError(
            f"{path}: images are {dims[1]}x{dims[2]}; MNIST images are "
            f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}"
        )
    if dims[0] == 0:
        raise NetdslDataError(f"{path}: the header declares 0 {what}")
    declared = int(np.prod(dims, dtype=np.int64))
    shape = f" of {dims[1]}x{dims[2]}" if ndim == 3 else ""
    if declared > MAX_BYTES:
        raise _too_large(path, declared, f"the header declares {dims[0]:,} {what}{shape},")
    data = _read(stream, declared, path)
    extra = _read(stream, _EXTRA_PROBE, path) if len(data) == declared else b""
    if len(data) != declared or extra:
        if len(data) < declared:
            problem, follow = "truncated", f"{len(data)}"
        else:
            more = declared + len(extra)
            problem, follow = (
                "extra bytes",
                f"{more}" if len(extra) < _EXTRA_PROBE else f"more than {more}",
            )
        raise NetdslDataError(
            f"{path}: {problem}: header declares {dims[0]} {what}{shape} "
            f"({declared} bytes) but {follow} follow"
        )
    array = np.frombuffer(data, np.uint8).reshape(dims)
    if ndim == 1:
        _check_labels(array, str(path))
    return array


def _check_labels(y: np.ndarray, where: str) -> None:
    """Refuse labels outside ``0..9``, naming the first offender."""
    bad = np.flatnonzero((y < 0) | (y >= NUM_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise NetdslDataError(
            f"{where}: label {int(y[i])} at index {i} is out of range 0..{NUM_CLASSES - 1} "
            f"({bad.size} such label{'s' if bad.size != 1 else ''})"
        )


def load_npz(path: str | os.PathLike[str]) -> MnistArrays:
    """``mnist.npz`` as Keras stores it (keys x_train, y_train, x_test, y_test), pickles refused."""
    path = Path(path)
    key = ("npz", _cache_key([path]))
    if key in _CACHE:
        return _CACHE[key]
    _check_npz(path)
    with Npz(path) as npz:  # the one bounded reader: headers first, never unpickled
        missing = [k for k in KEYS if k not in npz.members]
        if missing:
            raise NetdslDataError(
                f"{path}: missing array(s) {', '.join(missing)}; an MNIST .npz holds "
                f"{', '.join(KEYS)} (found: {', '.join(npz.members) or 'nothing'})"
            )
        arrays = npz.arrays(list(KEYS))
    return _remember(key, _checked(arrays, str(path)))


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first entry, or an empty zip


def _check_npz(path: Path) -> None:
    """Refuse what is not an .npz before NumPy sees it: a single ``.npy`` array, a file that is
    not a zip archive (NumPy would take it for a pickle), or members whose declared sizes are
    over :data:`MAX_BYTES` (a zip bomb: zipfile never decompresses past a member's declared size)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _too_large(path, size, "the file is")
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise NetdslDataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head.startswith(_NPY_MAGIC):
        raise NetdslDataError(
            f"{path}: a single .npy array, not an .npz archive of {', '.join(KEYS)}", help=_HOW_TO
        )
    if not head.startswith(_ZIP_MAGICS):
        shown = head[:4].hex(" ") if head else "nothing"
        raise NetdslDataError(
            f"{path}: cannot read as an MNIST .npz: not a zip archive "
            f"(it starts with {shown}; an .npz starts with 50 4b 03 04)",
            help=_HOW_TO,
        )
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(m.file_size for m in members)
            if total > MAX_BYTES:
                raise _too_large(path, total, "the archive's members declare")
            for member in members:  # NumPy allocates what an array header declares: check it first
                declared = _npy_declared_bytes(archive, member)
                if declared > MAX_BYTES:
                    raise _too_large(path, declared, f"array {member.filename} declares")
    except NetdslDataError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, zlib.error) as exc:
        raise NetdslDataError(
            f"{path}: cannot read as an MNIST .npz: {_describe(exc)}", help=_HOW_TO
        ) from exc


def _npy_declared_bytes(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """The bytes the ``.npy`` header of ``member`` declares (0 when it is not an .npy array)."""
    if not member.filename.endswith(".npy"):
        return 0
    with archive.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
    return int(np.prod(shape, dtype=np.float64)) * max(int(dtype.itemsize), 1)


def _checked(arrays: dict[str, Any], where: str, spec: IdxSpec = MNIST_SPEC) -> MnistArrays:
    """Validate four arrays as MNIST (dtype, rank, 28x28, label range, pairs) and freeze them."""
    out = {}
    for k in KEYS:
        a = np.asarray(arrays[k])
        image = k.startswith("x")
        if a.dtype == object or not np.issubdtype(a.dtype, np.integer):
            raise NetdslDataError(f"{where}: {k} has dtype {a.dtype}; expected uint8")
        if image and (a.ndim != 3 or a.shape[1:] != IMAGE_SIZE):
            raise NetdslDataError(f"{where}: {k} has shape {a.shape}; expected (N, 28, 28)")
        if not image and a.ndim != 1:
            raise NetdslDataError(f"{where}: {k} has shape {a.shape}; expected (N,)")
        if len(a) == 0:
            raise NetdslDataError(f"{where}: {k} is empty")
        if image and a.dtype != np.uint8 and (a.min() < 0 or a.max() > 255):
            raise NetdslDataError(f"{where}: {k} has pixel values outside 0..255")
        if not image:
            _check_labels(a, f"{where}: {k}")
        a = a.astype(np.uint8, copy=False)
        a.setflags(write=False)
        out[k] = a
    for part in ("train", "test"):
        nx, ny = len(out[f"x_{part}"]), len(out[f"y_{part}"])
        if nx != ny:
            raise NetdslDataError(
                f"{where}: x_{part} holds {nx} images but y_{part} holds {ny} labels; "
                "they must match one to one"
            )
    return MnistArrays(**out)


def scale_images(x: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """Pixels 0..255 as float32 in [0, 1], shaped ``(N, *input_shape)`` (e.g. ``(N, 28, 28, 1)``)."""
    shape = (len(x), *input_shape)
    if int(np.prod(shape)) != x.size:
        raise NetdslDataError(
            f"cannot shape {len(x)} images of {'x'.join(map(str, x.shape[1:]))} as "
            f"{tuple(input_shape)}"
        )
    out = x.astype(np.float32).reshape(shape)
    out /= 255.0
    return out
