"""Makers of small hostile data files: each writes, in a few hundred bytes to a few MB, a file
that declares or provokes far more work than it honestly holds, or that one reader reads
differently from another. Shared by the data fuzz harness (``bench/fuzz_data.py``) and the
regression tests (``tests/test_hostile_data.py``). NumPy and the standard library only.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = [
    "MAKERS",
    "bmp_declaring",
    "damaged_png",
    "gif_declaring",
    "npy_declaring",
    "npz_corrupt_deflate",
    "npz_declaring",
    "npz_of_zeros",
    "npz_with_compression",
    "png_declaring",
]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int, idat: bytes = b"", end: bool = True) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` grey pixels, with ``idat`` as its data
    (deflated zero rows make a real, valid picture: 20000x20000 takes about 400 KB)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = _chunk(b"IHDR", ihdr) + (_chunk(b"IDAT", idat) if idat else b"")
    return b"\x89PNG\r\n\x1a\n" + body + (_chunk(b"IEND", b"") if end else b"")


def zero_png(width: int, height: int) -> bytes:
    """A valid all-black grey PNG of ``width`` x ``height``, compressed row by row (small)."""
    c = zlib.compressobj(9)
    row = bytes(width + 1)
    data = b"".join(c.compress(row) for _ in range(height)) + c.flush()
    return png_declaring(width, height, data)


def damaged_png(width: int = 8, height: int = 8) -> bytes:
    """A PNG whose chunks are whole (IHDR ... IEND) but whose pixel data is garbage."""
    return png_declaring(width, height, b"\x00garbage" * 4)


def gif_declaring(width: int, height: int) -> bytes:
    """A 29-byte GIF whose logical screen is ``width`` x ``height`` (the decompression bomb)."""
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return head + image + b";"


def bmp_declaring(width: int, height: int) -> bytes:
    """A BMP header declaring ``width`` x ``height`` 24-bit pixels, with none of them."""
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + dib


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def npy_declaring(shape: tuple[int, ...], dtype: str = "<f8", data: bytes = b"") -> bytes:
    """An ``.npy`` whose header declares ``shape`` of ``dtype`` followed by only ``data``."""
    return _npy_header(shape, dtype) + data


def npz_declaring(path: Path, members: dict[str, bytes]) -> Path:
    """An ``.npz`` of the given raw ``.npy`` members (stored)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in members.items():
            z.writestr(f"{name}.npy", raw)
    return path


def npz_of_zeros(path: Path, nbytes: int) -> Path:
    """An ``.npz`` of deflated zeros: ``x`` (a float64 column) and ``y`` (int64 labels) each
    declare ``nbytes``, honestly, in about ``nbytes / 1000`` bytes on disk each."""
    rows = nbytes // 8
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for key, shape, dtype in (("x", (rows, 1), "<f8"), ("y", (rows,), "<i8")):
            with z.open(f"{key}.npy", "w", force_zip64=True) as f:
                f.write(_npy_header(shape, dtype))
                zeros, left = bytes(1 << 20), rows * 8
                while left:
                    f.write(zeros[: min(left, len(zeros))])
                    left -= min(left, len(zeros))
    return path


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def npz_with_compression(path: Path, method: int = 99) -> Path:
    """An ``.npz`` of x and y whose members say they use compression ``method`` (99: none known)."""
    np.savez(path, x=np.zeros((4, 2), np.float32), y=np.arange(4))
    raw = bytearray(path.read_bytes())
    for sig, at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (i := raw.find(sig, start)) >= 0:
            raw[i + at : i + at + 2] = struct.pack("<H", method)
            start = i + 4
    path.write_bytes(bytes(raw))
    return path


def npz_corrupt_deflate(path: Path, key: str = "y") -> Path:
    """An ``.npz`` (savez_compressed) whose ``key`` member's deflate stream is overwritten."""
    rng = np.random.default_rng(0)
    np.savez_compressed(path, x=rng.random((64, 3)).astype(np.float32), y=rng.integers(0, 3, 64))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(f"{key}.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 2, start + min(info.compress_size, 40)):
        raw[i] = 0xFF
    path.write_bytes(bytes(raw))
    return path


#: name -> (suffix, maker writing the file at a path): the harness's seed corpus
MAKERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "png-20000x20000": (".png", lambda p: p.write_bytes(zero_png(20000, 20000))),
    "png-2^30-header": (".png", lambda p: p.write_bytes(png_declaring(1 << 30, 1 << 30, b"x"))),
    "png-truncated": (".png", lambda p: p.write_bytes(zero_png(64, 64)[:-30])),
    "png-empty": (".png", lambda p: p.write_bytes(b"")),
    "png-damaged-inside": (".png", lambda p: p.write_bytes(damaged_png())),
    "gif-65535": (".gif", lambda p: p.write_bytes(gif_declaring(65535, 65535))),
    "bmp-huge": (".bmp", lambda p: p.write_bytes(bmp_declaring(60000, 60000))),
    "npz-object": (
        ".npz",
        lambda p: np.savez(p, x=np.array([{"a": 1}, None], dtype=object), y=np.arange(2)),
    ),
    "npz-corrupt-deflate": (".npz", npz_corrupt_deflate),
    "npz-unknown-compression": (".npz", npz_with_compression),
    "npz-0d": (".npz", lambda p: np.savez(p, x=np.float32(3), y=np.int64(1))),
    "npz-string-labels": (
        ".npz",
        lambda p: np.savez(p, x=np.zeros((4, 2)), y=np.array(["a", "b"] * 2)),
    ),
    "npz-declares-1e9": (
        ".npz",
        lambda p: npz_declaring(
            p, {"x": npy_declaring((10**9 // 8,)), "y": npy_bytes(np.arange(3))}
        ),
    ),
    "npz-zeros-64MB": (".npz", lambda p: npz_of_zeros(p, 64 << 20)),
    "npy-declares-1e9": (".npy", lambda p: p.write_bytes(npy_declaring((10**9 // 8,)))),
    "csv-long-cell": (
        ".csv",
        lambda p: p.write_text("a,b,label\n" + "1" * 200_000 + ",2,0\n1,2,1\n"),
    ),
    "csv-wide-header": (
        ".csv",
        lambda p: p.write_text(
            ",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join(["1"] * 100_000) + "\n"
        ),
    ),
    "csv-sparse-2G": (".csv", lambda p: (p.write_text("a,b,label\n"), os.truncate(p, 2 << 30))),
    "csv-arabic-digit": (".csv", lambda p: p.write_text("a,b,label\n\u0661,2,0\n3,4,1\n")),
    "csv-underscore": (".csv", lambda p: p.write_text("a,b,label\n1_0,2,0\n3,4,1\n")),
    "csv-cr-only": (".csv", lambda p: p.write_bytes(b"a,b,label\r1,2,0\r3,4,1\r5,6,0\r")),
    # typed tables (issue 23): text, categories, missing cells, broken bytes
    "csv-typed-bad-utf8": (
        ".csv",
        lambda p: p.write_bytes(b"a,b,label\n1,x,0\n" * 20 + b"2,caf\xe9,1\n"),
    ),
    "csv-typed-all-empty": (".csv", lambda p: p.write_text("a,b,label\n" + "1,,0\n2,,1\n" * 20)),
    "csv-typed-million-ids": (
        ".csv",
        lambda p: p.write_text("id,label\n" + "".join(f"u{i},{i % 2}\n" for i in range(10**6))),
    ),
    "csv-typed-text-10MB": (
        ".csv",
        lambda p: p.write_text(
            "n,t,label\n" + "1,w x,0\n2,y z,1\n" * 20 + "3," + "w " * (5 << 20) + ",1\n"
        ),
    ),
}
