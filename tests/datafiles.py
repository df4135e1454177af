"""Tiny data files in each official format, built here (no network): the tests, the examples
and bench/data_bench.py use them.

Run ``python tests/datafiles.py OUT_DIR`` to write the example data sets the examples/ programs
read (a tabular classification CSV, a regression CSV, an image folder, an IMDB-format .npz) when
the real files cannot be had.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import sys
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: the real MNIST, where this machine has it: $NETDSL_MNIST (CI sets it), else shared/data/mnist
#: beside the checkout (the project's layout here). Tests that need it skip without it.
REAL_MNIST = Path(
    os.environ.get("NETDSL_MNIST")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
)

__all__ = [
    "png",
    "write_cifar_archive",
    "write_csv",
    "write_example_data",
    "write_idx_folder",
    "write_image_folder",
    "write_png",
    "write_sequence_npz",
]

IDX = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def png(pixels: np.ndarray) -> bytes:
    """A PNG of ``uint8`` pixels ``(h, w)`` grey or ``(h, w, 3)`` RGB, written without Pillow."""
    pixels = np.ascontiguousarray(pixels, np.uint8)
    h, w = pixels.shape[:2]
    colour = 0 if pixels.ndim == 2 else 2
    raw = b"".join(b"\x00" + pixels[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png(pixels))
    return path


def write_image_folder(
    root: Path,
    classes: Sequence[str] = ("cats", "dogs"),
    per_class: int = 10,
    size: int = 8,
    seed: int = 0,
    rgb: bool = True,
) -> Path:
    """One sub-folder per class of small PNGs; class ``i`` is brighter, so it can be learned."""
    rng = np.random.default_rng(seed)
    for i, name in enumerate(classes):
        for j in range(per_class):
            level = 40 + 160 * i / max(len(classes) - 1, 1)
            shape = (size, size, 3) if rgb else (size, size)
            pixels = np.clip(rng.normal(level, 25, shape), 0, 255).astype(np.uint8)
            write_png(root / name / f"{j:05d}.png", pixels)
    return root


def write_idx_folder(
    folder: Path, n_train: int = 12, n_test: int = 5, seed: int = 0
) -> dict[str, np.ndarray]:
    """The four gzip IDX files of random 28x28 images; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX.items():
        a = arrays[key]
        body = bytes((0, 0, 8, a.ndim)) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
        (folder / f"{name}.gz").write_bytes(gzip.compress(body, mtime=0))
    return arrays


def _batch(x: np.ndarray, labels: dict[str, list[int]]) -> bytes:
    d: dict[bytes, object] = {b"data": x.reshape(len(x), -1), b"batch_label": b"test"}
    d.update({k.encode(): v for k, v in labels.items()})
    return pickle.dumps(d, protocol=3)  # bytes as bytes, as Python 2's strings load


def write_cifar_archive(path: Path, hundred: bool = False, n: int = 6, seed: int = 0) -> Path:
    """A ``cifar-10-python.tar.gz`` (or cifar-100) of the official layout: pickled batches."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        if hundred:
            for part in ("train", "test"):
                x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
                add(
                    f"cifar-100-python/{part}",
                    _batch(
                        x,
                        {
                            "fine_labels": rng.integers(0, 100, n).tolist(),
                            "coarse_labels": rng.integers(0, 20, n).tolist(),
                        },
                    ),
                )
        else:
            for part in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
                x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
                add(
                    f"cifar-10-batches-py/{part}",
                    _batch(x, {"labels": rng.integers(0, 10, n).tolist()}),
                )
    return path


def write_cifar_folder(parent: Path, hundred: bool = False, n: int = 6, seed: int = 0) -> Path:
    """The folder ``tar xzf cifar-10-python.tar.gz`` leaves (``cifar-10-batches-py/``, or
    ``cifar-100-python/``) inside ``parent``: the official archive's files, extracted."""
    archive = write_cifar_archive(parent / ".archive.tar.gz", hundred=hundred, n=n, seed=seed)
    with tarfile.open(archive) as tar:
        tar.extractall(parent, filter="data")
    archive.unlink()
    return parent / ("cifar-100-python" if hundred else "cifar-10-batches-py")


def _ragged(rng: np.random.Generator, n: int, vocab: int, longest: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = rng.integers(1, vocab, int(rng.integers(3, longest))).tolist()
    return out


def write_sequence_npz(
    path: Path,
    reuters: bool = False,
    n: int = 40,
    vocab: int = 200,
    seed: int = 0,
    learnable: bool = False,
) -> Path:
    """``imdb.npz`` (x_train, y_train, x_test, y_test) or ``reuters.npz`` (x, y) as Keras stores
    them: object arrays of word-id lists. ``learnable``: positive reviews use low word ids."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if reuters:
        np.savez(path, x=_ragged(rng, n, vocab, 30), y=rng.integers(0, 46, n))
        return path
    parts = {}
    for part in ("train", "test"):
        y = rng.integers(0, 2, n)
        x = np.empty(n, dtype=object)
        for i in range(n):
            length = int(rng.integers(20, 120))
            if learnable:
                low, high = (1, vocab // 2) if y[i] else (vocab // 2, vocab)
                x[i] = rng.integers(low, high, length).tolist()
            else:
                x[i] = rng.integers(1, vocab, length).tolist()
        parts[f"x_{part}"], parts[f"y_{part}"] = x, y
    np.savez(path, **parts)
    return path


def write_csv(path: Path, rows: int, features: int = 4, task: str = "names", seed: int = 0) -> Path:
    """A CSV with a header: ``features`` numeric columns and a label that follows them
    (``names``: three species; ``reals``: a noisy linear target)."""
    rng = np.random.default_rng(seed)
    names = ("setosa", "versicolor", "virginica")
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(
        [f"f{i}" for i in range(features)] + ["target" if task == "reals" else "species"]
    )
    weights = rng.normal(0, 1, features)
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + "\n")
        done = 0
        while done < rows:
            n = min(50_000, rows - done)
            k = rng.integers(0, 3, n)
            x = rng.normal(0, 1, (n, features)) + (k[:, None] if task == "names" else 0)
            if task == "names":
                label = np.array(names)[k]
            else:
                label = np.char.mod("%.4f", x @ weights * 3 + 20 + rng.normal(0, 0.5, n))
            body = np.char.mod("%.4f", x)
            f.write("\n".join(",".join(r) + "," + lab for r, lab in zip(body, label)) + "\n")
            done += n
    return path


def write_example_data(out: Path) -> None:
    """The data sets the examples/ programs read (see examples/README.md)."""
    write_csv(out / "iris.csv", 3000, task="names", seed=1)
    write_csv(out / "houses.csv", 5000, features=8, task="reals", seed=2)
    write_image_folder(
        out / "shapes", classes=("dark", "mid", "light"), per_class=200, size=32, seed=3
    )
    write_sequence_npz(out / "imdb" / "imdb.npz", n=2000, vocab=1000, seed=4, learnable=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/datafiles.py OUT_DIR")
    write_example_data(Path(sys.argv[1]))
    print(f"example data written to {sys.argv[1]}")
