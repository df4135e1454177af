"""The one size-bounded reader of the user's data files, for every dataset and for ``predict``.

Every cost is bounded by what the file honestly holds, and every fault is a
:class:`~netdsl.errors.NetdslDataError` (or the subclass the caller passes) that names the file:

- :func:`regular_file` says what a path is when it is not a regular file (a folder, a character
  device such as ``/dev/zero``, a FIFO) before anything opens it (a FIFO would block forever).
- CSV text: :func:`read_lines` splits on ``\\n`` only (``\\r\\n`` allowed) with a cap on a line's
  length, and refuses CR-only line ends, as TensorFlow's line reader cannot split them;
  :func:`scan_lines` checks a whole file the same way in binary blocks before TensorFlow reads it;
  :func:`split_row` cuts a line into cells (no field-size limit); :func:`parse_number` is the one
  number grammar of checking, ``predict`` and TensorFlow's ``decode_csv`` (ASCII decimal only:
  ``١`` or ``1_0``, which Python's ``float`` accepts and TensorFlow does not, are not numbers).
- ``.npz`` / ``.npy``: :class:`Npz` and :func:`read_npy` read array headers first and refuse
  objects (never unpickled), unknown compression, encrypted members, arrays declaring more bytes
  than the member holds, members expanding past :data:`MAX_RATIO` times their compressed size, and
  loads over :func:`memory_budget`; data is then read into one preallocated array, or streamed in
  blocks (:meth:`Npz.blocks`) so labels can be checked without holding them whole.
- images: :func:`image_size` reads a PNG, GIF, BMP or JPEG header (and walks a PNG's chunks to
  its end) without decoding, so a picture over :data:`MAX_IMAGE_PIXELS`, an empty or truncated
  file is refused, naming it, before any decoder allocates its pixels.

NumPy is imported inside the functions that need it: ``netdsl check`` on a CSV never loads it.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from netdsl.errors import NetdslDataError

if TYPE_CHECKING:  # pragma: no cover - NumPy loads with the data, not with `check`
    import numpy as np

__all__ = [
    "FLOAT32_MAX",
    "MAX_IMAGE_PIXELS",
    "MAX_LINE_CHARS",
    "MAX_RATIO",
    "RATIO_FREE_BYTES",
    "Member",
    "Npz",
    "image_size",
    "is_integer_text",
    "memory_budget",
    "parse_number",
    "path_kind",
    "read_lines",
    "read_npy",
    "regular_file",
    "scale_pixels",
    "scan_lines",
    "split_row",
]

#: the longest line of a CSV, in characters: a row of 100,000 numeric cells fits many times over;
#: a 2 GB file without line ends is refused after reading this much, not read whole
MAX_LINE_CHARS = 16 << 20
#: an array member of an .npz may expand to at most this many times its compressed size (real
#: numeric data compresses 2-20x; deflated zeros 1,000x, the shape of a zip bomb) ...
MAX_RATIO = 100
#: ... unless it is at most this big (small arrays of zeros are honest)
RATIO_FREE_BYTES = 16 << 20
#: the most pixels netdsl decodes in one picture (8192x4096): an image header may declare
#: 65535x65535 in 29 bytes, and a decoder allocates what it declares
MAX_IMAGE_PIXELS = 1 << 25
#: the largest finite float32: training decodes CSV cells as float32, so 1e39 is infinite there
FLOAT32_MAX = 3.4028234663852886e38
_BLOCK = 1 << 20
_NPY_PREFIX = 12  # magic (6), version (2), header length (2 in version 1, 4 after)
_NPY_MAX_HEADER = 10_000
_PIECE = 1 << 16

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device (such as /dev/zero)"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISREG, "a file"),
)


def path_kind(path: Path) -> str | None:
    """What ``path`` is, in words ("a folder", "a FIFO (named pipe)", ...); None if nothing is
    there. Only ``stat`` is called: nothing is opened."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return next((text for test, text in _KINDS if test(mode)), "not a regular file")


def regular_file(
    path: Path,
    expected: str,
    error: type[NetdslDataError] = NetdslDataError,
    help: str | None = None,
) -> Path:
    """``path`` if it is a regular file, else an error saying what it is and what was expected
    (``expected``: e.g. "a CSV file with a header row")."""
    kind = path_kind(path)
    if kind is None:
        raise error(f"{path}: no such file", help=help or f"give {expected}")
    if kind != "a file":
        raise error(f"{path} is {kind}; expected {expected}", help=help)
    return path


# --- text -------------------------------------------------------------------------------------


def _too_long(path: Path, line: int, error: type[NetdslDataError]) -> NetdslDataError:
    return error(
        f"{path}: line {line} is longer than {MAX_LINE_CHARS:,} characters without a line end",
        help="a CSV holds one row per line; is this a CSV file?",
    )


def _carriage_return(path: Path, line: int, error: type[NetdslDataError]) -> NetdslDataError:
    return error(
        f"{path}: line {line} holds a carriage return (CR) inside it: the file's lines "
        "end with CR only (classic Mac), which netdsl's training reader cannot split",
        help="convert the line ends to LF, e.g. `tr '\\r' '\\n' < in.csv > out.csv`",
    )


def _nul(path: Path, line: int, error: type[NetdslDataError]) -> NetdslDataError:
    return error(
        f"{path}: line {line} holds a NUL byte: this is a binary (or sparse) file, not CSV text",
        help="give a CSV file: text, one row per line",
    )


def read_lines(
    path: Path, limit: int | None = None, error: type[NetdslDataError] = NetdslDataError
) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file split on ``\\n`` (a ``\\r`` before it dropped), up
    to about ``limit`` characters (whole lines, at least two). The text is read in pieces of
    :data:`_PIECE` characters and split in C: a line over :data:`MAX_LINE_CHARS`, a NUL (a binary
    or sparse file) or a bare CR is an error once the piece that shows it is read, so a 2 GB file
    of zeros costs one piece. ``UnicodeDecodeError`` propagates."""
    regular_file(path, "a CSV file", error)
    read, n = 0, 0
    pending: list[str] = []  # the start of a line longer than the pieces read so far
    size = 0
    with open(path, encoding="utf-8", errors="strict", newline="\n") as f:
        while piece := f.read(_PIECE):
            if "\0" in piece:
                raise _nul(path, n + 1 + piece[: piece.index("\0")].count("\n"), error)
            parts = piece.split("\n")
            if len(parts) == 1:
                size += len(piece)
                if size > MAX_LINE_CHARS:
                    raise _too_long(path, n + 1, error)
                pending.append(piece)
                continue
            parts[0] = "".join(pending) + parts[0]
            pending = [parts.pop()]
            size = len(pending[0])
            for raw in parts:
                n += 1
                if len(raw) > MAX_LINE_CHARS:
                    raise _too_long(path, n, error)
                read += len(raw) + 1
                if limit is not None and read > limit and n > 2:
                    return
                yield n, _line_text(raw, path, n, error)
        last = "".join(pending)
        if last and not (limit is not None and read + len(last) > limit and n + 1 > 2):
            yield n + 1, _line_text(last, path, n + 1, error)


def _line_text(raw: str, path: Path, n: int, error: type[NetdslDataError]) -> str:
    """A line without its CR before LF; a CR anywhere else is an error (CR-only line ends)."""
    text = raw[:-1] if raw.endswith("\r") else raw
    if "\r" in text:
        raise _carriage_return(path, n, error)
    return text


def scan_lines(path: Path, error: type[NetdslDataError] = NetdslDataError) -> int:
    """Check a whole file's line structure in binary blocks (no decoding, one block in memory):
    no line over :data:`MAX_LINE_CHARS` bytes, no NUL, no CR but before LF. Returns the number of
    the last line (one more than the line ends).
    Run before TensorFlow's line reader, which holds a whole line however long."""
    regular_file(path, "a CSV file", error)
    line, since, last_cr = 1, 0, False
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            if b"\0" in block:
                raise _nul(path, line + block[: block.find(b"\0")].count(b"\n"), error)
            if last_cr and not block.startswith(b"\n"):
                raise _carriage_return(path, line, error)
            crs = block.count(b"\r")
            if crs and crs != block.count(b"\r\n") + block.endswith(b"\r"):
                bare = _BARE_CR.search(block, 0, len(block) - block.endswith(b"\r"))
                at = bare.start() if bare else 0
                raise _carriage_return(path, line + block[:at].count(b"\n"), error)
            last_cr = block.endswith(b"\r")
            first = block.find(b"\n")
            if first < 0:
                since += len(block)
                if since > MAX_LINE_CHARS:
                    raise _too_long(path, line, error)
                continue
            if since + first > MAX_LINE_CHARS:
                raise _too_long(path, line, error)
            line += block.count(b"\n")
            since = len(block) - block.rfind(b"\n") - 1
    if last_cr:
        raise _carriage_return(path, line, error)
    return line


def split_row(line: str, delimiter: str) -> list[tuple[str, int]]:
    """A CSV line as ``(value, 0-based start column)`` cells, stripped; double quotes may wrap a
    cell (``""`` inside is a quote). Quoted newlines are not supported (one row per line)."""
    cells: list[tuple[str, int]] = []
    if '"' not in line:  # the common case, at C speed
        pos, step = 0, len(delimiter)
        for part in line.split(delimiter):
            cells.append((part.strip(), pos))
            pos += len(part) + step
        return cells
    i, n = 0, len(line)
    while True:
        start = i
        if i < n and line[i] == '"':
            j, buf = i + 1, []
            while j < n:
                if line[j] == '"':
                    if j + 1 < n and line[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(line[j])
                j += 1
            value = "".join(buf)
            i = line.find(delimiter, j)
        else:
            i = line.find(delimiter, i)
            value = line[start:] if i < 0 else line[start:i]
        cells.append((value.strip(), start))
        if i < 0:
            return cells
        i += len(delimiter)


#: what TensorFlow's ``decode_csv`` reads as a float, in ASCII: ``-1``, ``.5``, ``5.``, ``1e-3``,
#: ``inf``, ``nan`` (hexadecimal, which TensorFlow also reads, is refused: Python's float does not)
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE | re.ASCII,
)
_BARE_CR = re.compile(rb"\r(?!\n)")
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


def parse_number(text: str) -> float | None:
    """A cell as the number training reads (float32: past :data:`FLOAT32_MAX` it is infinite),
    or None when it is not one. The one number grammar of check, training and predict: what
    Python's ``float`` reads, in ASCII and without ``_`` (that is :data:`_NUMBER`; TensorFlow
    reads no Unicode digits or underscores), parsed by ``float`` itself for speed."""
    try:
        value = float(text)
    except ValueError:
        return None
    if not text.isascii() or "_" in text:
        return None
    if math.isfinite(value) and abs(value) > FLOAT32_MAX:
        return math.copysign(math.inf, value)
    return value


def is_integer_text(text: str) -> bool:
    """Whether a cell is written as a whole number (``151``, not ``151.0`` or ``1.5e2``)."""
    return _INTEGER.fullmatch(text.strip(" \t")) is not None


# --- arrays -----------------------------------------------------------------------------------


def memory_budget() -> int:
    """The most bytes one load may declare: half this machine's physical memory (8 GiB when the
    system does not say). A load over it would be killed for memory, or swap for hours."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 << 30
    return max(int(total) // 2, 1 << 30)


def _bytes(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"


@dataclass(frozen=True)
class Member:
    """One array's header: its name, shape, dtype and where its data starts and ends."""

    name: str
    shape: tuple[int, ...]
    dtype: Any  # numpy.dtype
    fortran: bool
    offset: int  # bytes of the .npy header
    stored: int  # bytes the container declares for the .npy (header + data)
    packed: int  # bytes it takes compressed (== stored when not compressed)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * int(self.dtype.itemsize)

    @property
    def numeric(self) -> bool:
        return self.dtype.kind in "biuf"

    @property
    def text(self) -> bool:
        return self.dtype.kind in "US"


def _npy_header(
    f: BinaryIO, where: str, name: str, error: type[NetdslDataError]
) -> tuple[Any, int]:
    """``((shape, fortran, dtype), header length)`` of an ``.npy`` stream; its dtype checked.
    The header's length field is read first: NumPy would allocate what it declares (up to 4 GB
    in a 12-byte prefix) before checking it against its own limit."""
    import numpy as np

    prefix = f.read(_NPY_PREFIX)
    if (
        len(prefix) < _NPY_PREFIX
        or not prefix.startswith(b"\x93NUMPY")
        or prefix[6] not in (1, 2, 3)
        or prefix[7] != 0
    ):
        raise error(f"{where}: `{name}` is not a NumPy array (no .npy magic and version)")
    fixed = 10 if prefix[6] == 1 else 12  # bytes before the header text
    length = struct.unpack("<H" if fixed == 10 else "<I", prefix[8:fixed])[0]
    if length > _NPY_MAX_HEADER:
        raise error(
            f"{where}: `{name}` declares a {length:,}-byte array header (NumPy writes "
            f"under {_NPY_MAX_HEADER:,}); the file is damaged or not an array"
        )
    head = prefix + f.read(max(fixed + length - _NPY_PREFIX, 0))
    try:
        stream = io.BytesIO(head)
        version = np.lib.format.read_magic(stream)
        read = (
            np.lib.format.read_array_header_1_0
            if version[0] == 1
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(stream, max_header_size=_NPY_MAX_HEADER)
    except Exception as exc:  # noqa: BLE001 - NumPy parses a hostile header in many ways (tokenize, ast)
        raise error(
            f"{where}: `{name}` is not a NumPy array ({type(exc).__name__}: {exc})"
        ) from None
    if dtype.hasobject:
        raise error(
            f"{where}: `{name}` is an array of Python objects (pickled); netdsl never "
            "unpickles data (allow_pickle=False) and reads plain numeric arrays",
            help="save numbers: e.g. np.savez(path, x=x.astype('float32'), y=y)",
        )
    if dtype.kind not in "biufUS" or dtype.fields is not None or dtype.subdtype is not None:
        raise error(
            f"{where}: `{name}` holds {dtype} values; netdsl reads arrays of numbers",
            help="save plain numeric arrays, e.g. x.astype('float32')",
        )
    return (tuple(int(d) for d in shape), bool(fortran), dtype), fixed + length


def _refuse_size(member: Member, where: str, error: type[NetdslDataError]) -> None:
    """Refuse an array that declares more than its container holds, or expands like a bomb."""
    if member.offset + member.nbytes > member.stored:
        raise error(
            f"{where}: `{member.name}` declares {_bytes(member.nbytes)} "
            f"({'x'.join(map(str, member.shape)) or 'a single value'} of {member.dtype}) "
            f"but holds {_bytes(max(member.stored - member.offset, 0))}; the file is "
            "truncated or damaged",
            help="write it again (numpy.savez)",
        )
    if member.nbytes > RATIO_FREE_BYTES and member.nbytes > MAX_RATIO * max(member.packed, 1):
        raise error(
            f"{where}: `{member.name}` declares {_bytes(member.nbytes)} in "
            f"{_bytes(member.packed)} compressed, over {MAX_RATIO}x: refused unread "
            "(the shape of a zip bomb, not of data)",
            help="save the arrays without compression (numpy.savez) if they are real",
        )


def _budget(members: list[Member], where: str, error: type[NetdslDataError]) -> None:
    total, budget = sum(m.nbytes for m in members), memory_budget()
    if total > budget:
        names = ", ".join(f"`{m.name}`" for m in members)
        raise error(
            f"{where}: {names} declare {_bytes(total)}, more than half this machine's "
            f"memory ({_bytes(budget)}); refused unread",
            help="use fewer examples, or a CSV (streamed from disk while training)",
        )


def _fill(f: BinaryIO, member: Member, where: str, error: type[NetdslDataError]) -> np.ndarray:
    """The member's data read into one preallocated array (the header already consumed)."""
    import numpy as np

    buf = np.empty(member.nbytes, np.uint8)
    view, got = memoryview(buf.data), 0
    while got < member.nbytes:
        chunk = f.read(min(_BLOCK * 16, member.nbytes - got))
        if not chunk:
            raise error(
                f"{where}: `{member.name}` ends after {_bytes(got)} of "
                f"{_bytes(member.nbytes)}; the file is truncated",
                help="write it again",
            )
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    out: np.ndarray = buf.view(member.dtype).reshape(
        member.shape, order="F" if member.fortran else "C"
    )
    return out


class Npz:
    """An ``.npz`` archive opened for bounded reading: :attr:`members` (headers only, each
    checked), then :meth:`array` or :meth:`blocks` of the ones wanted. A context manager."""

    def __init__(self, path: Path, error: type[NetdslDataError] = NetdslDataError) -> None:
        self.path, self.error = path, error
        regular_file(path, "an .npz file of arrays (numpy.savez)", error)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise error(
                f"{path}: not an .npz archive ({exc})", help="write it with numpy.savez"
            ) from None
        try:
            self.members = {
                m.name: m
                for m in (
                    self._member(i) for i in self._zip.infolist() if i.filename.endswith(".npy")
                )
            }
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> Npz:
        return self

    def __exit__(self, *exc: object) -> None:
        self._zip.close()

    def _fault(self, name: str, exc: BaseException) -> NetdslDataError:
        return self.error(
            f"{self.path}: `{name}` cannot be read: {type(exc).__name__}: {exc}",
            help="the file is damaged; write it again (numpy.savez)",
        )

    def _open(self, info: zipfile.ZipInfo) -> Any:
        name = info.filename[:-4]
        if info.flag_bits & 0x1:
            raise self.error(f"{self.path}: `{name}` is encrypted; netdsl reads plain .npz files")
        if info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
            zipfile.ZIP_BZIP2,
            zipfile.ZIP_LZMA,
        ):
            raise self.error(
                f"{self.path}: `{name}` uses compression method {info.compress_type}, "
                "which netdsl cannot read (stored, deflate, bzip2, lzma)",
                help="write it with numpy.savez or numpy.savez_compressed",
            )
        try:
            return self._zip.open(info)
        except (
            zipfile.BadZipFile,
            NotImplementedError,
            RuntimeError,
            OSError,
            ValueError,
            EOFError,
            zlib.error,
        ) as exc:
            raise self._fault(name, exc) from None

    def _member(self, info: zipfile.ZipInfo) -> Member:
        name = info.filename[:-4]
        try:
            with self._open(info) as f:
                (shape, fortran, dtype), offset = _npy_header(f, str(self.path), name, self.error)
        except NetdslDataError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
            raise self._fault(name, exc) from None
        member = Member(name, shape, dtype, fortran, offset, info.file_size, info.compress_size)
        _refuse_size(member, str(self.path), self.error)
        return member

    def array(self, name: str) -> np.ndarray:
        """The whole array ``name`` (its header already checked), in one allocation."""
        return self.arrays([name])[name]

    def arrays(self, names: list[str]) -> dict[str, np.ndarray]:
        """The arrays ``names``; refused unread when together they pass :func:`memory_budget`."""
        _budget([self.members[n] for n in names], str(self.path), self.error)
        return {n: self._read(n) for n in names}

    def _read(self, name: str) -> np.ndarray:
        member = self.members[name]
        try:
            with self._open(self._zip.getinfo(name + ".npy")) as f:
                f.read(member.offset)
                return _fill(f, member, str(self.path), self.error)
        except NetdslDataError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, MemoryError) as exc:
            raise self._fault(name, exc) from None

    def blocks(self, name: str, rows: int = 1 << 16) -> Iterator[np.ndarray]:
        """The array ``name`` in blocks of at most ``rows`` rows (C order; a Fortran-ordered
        array comes whole), one block in memory at a time."""
        import numpy as np

        member = self.members[name]
        if member.fortran or len(member.shape) == 0:
            yield self.array(name)
            return
        row_bytes = math.prod(member.shape[1:]) * int(member.dtype.itemsize)
        left = member.shape[0]
        try:
            with self._open(self._zip.getinfo(name + ".npy")) as f:
                f.read(member.offset)
                while left:
                    k = min(rows, left)
                    data = f.read(k * row_bytes) if row_bytes else b""
                    if len(data) < k * row_bytes:
                        raise self.error(
                            f"{self.path}: `{name}` is truncated",
                            help="write it again (numpy.savez)",
                        )
                    yield np.frombuffer(data, member.dtype).reshape((k, *member.shape[1:]))
                    left -= k
        except NetdslDataError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
            raise self._fault(name, exc) from None


def read_npy(path: Path, error: type[NetdslDataError] = NetdslDataError) -> np.ndarray:
    """A ``.npy`` file: header checked (no objects, declared size within the file and the memory
    budget), then its data read into one array."""
    regular_file(path, "a .npy array (numpy.save)", error)
    try:
        with open(path, "rb") as f:
            (shape, fortran, dtype), offset = _npy_header(f, str(path), path.stem, error)
            size = os.fstat(f.fileno()).st_size
            member = Member(path.stem, shape, dtype, fortran, offset, size, size)
            _refuse_size(member, str(path), error)
            _budget([member], str(path), error)
            return _fill(f, member, str(path), error)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1], as every built-in image dataset gives them."""
    import numpy as np

    return x.astype(np.float32) / np.float32(255.0)


# --- images -----------------------------------------------------------------------------------

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _png(f: BinaryIO, size: int) -> tuple[int, int] | str:
    head = f.read(16)
    if len(head) < 16 or head[12:16] != b"IHDR":
        return "a PNG without its IHDR header"
    width, height = struct.unpack(">II", f.read(8))
    pos = 8
    while pos + 12 <= size:  # walk the chunks to IEND: a cut file ends before it
        f.seek(pos)
        length, kind = struct.unpack(">I4s", f.read(8))
        pos += 12 + length
        if kind == b"IEND":
            return (width, height) if pos <= size else "a truncated PNG (its IEND chunk is cut)"
    return "a truncated PNG (it ends before its IEND chunk)"


def _gif(f: BinaryIO, size: int) -> tuple[int, int] | str:
    head = f.read(10)
    if len(head) < 10:
        return "a truncated GIF header"
    width, height = struct.unpack("<HH", head[6:10])
    f.seek(size - 1)
    return (width, height) if f.read(1) == b";" else "a truncated GIF (no trailer byte)"


def _bmp(f: BinaryIO, size: int) -> tuple[int, int] | str:
    head = f.read(34)
    if len(head) < 26:
        return "a truncated BMP header"
    offset, dib = struct.unpack("<I", head[10:14])[0], struct.unpack("<I", head[14:18])[0]
    if dib == 12:
        width, height, bits = (
            *struct.unpack("<HH", head[18:22]),
            struct.unpack("<H", head[24:26])[0],
        )
        compression = 0
    elif len(head) >= 34:
        width, height = struct.unpack("<ii", head[18:26])
        bits, compression = struct.unpack("<H", head[28:30])[0], struct.unpack("<I", head[30:34])[0]
    else:
        return "a truncated BMP header"
    width, height = abs(width), abs(height)
    row = (width * bits + 31) // 32 * 4
    if compression in (0, 3) and offset + row * height > size:
        return "a truncated BMP (its pixels are cut)"
    return width, height


def _jpeg(f: BinaryIO, size: int) -> tuple[int, int] | str:
    f.seek(2)
    while True:
        mark = f.read(2)
        if len(mark) < 2 or mark[0] != 0xFF:
            return "a truncated or damaged JPEG (no frame header)"
        if mark[1] in (0xD8, 0x01) or 0xD0 <= mark[1] <= 0xD7 or mark[1] == 0xFF:
            f.seek(-1 if mark[1] == 0xFF else 0, os.SEEK_CUR)
            continue
        raw = f.read(2)
        if len(raw) < 2:
            return "a truncated JPEG"
        length = struct.unpack(">H", raw)[0]
        if length < 2 or mark[1] in (0xD9, 0xDA):
            return "a damaged JPEG (no frame header before its data)"
        if mark[1] in _JPEG_SOF:
            body = f.read(5)
            if len(body) < 5:
                return "a truncated JPEG"
            height, width = struct.unpack(">HH", body[1:5])
            return width, height
        f.seek(length - 2, os.SEEK_CUR)


_IMAGE_MAGIC = (
    (_PNG, _png),
    (b"GIF87a", _gif),
    (b"GIF89a", _gif),
    (b"BM", _bmp),
    (b"\xff\xd8", _jpeg),
)


def image_size(
    path: Path, error: type[NetdslDataError] = NetdslDataError, limit: int = MAX_IMAGE_PIXELS
) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG, GIF, BMP or JPEG header, without decoding; None for
    another format (left to its decoder). An empty, cut or damaged header, a truncated PNG, GIF
    or BMP, zero pixels, or more than ``limit`` pixels is an error naming the file."""
    regular_file(path, "an image file", error)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise error(
                    f"{path}: an empty file, not an image",
                    help="remove it, or replace it with the picture",
                )
            head = f.read(8)
            reader = next((r for magic, r in _IMAGE_MAGIC if head.startswith(magic)), None)
            if reader is None:
                return None
            f.seek(0)
            got = reader(f, size)
    except (OSError, struct.error) as exc:
        raise error(
            f"{path}: cannot read its image header ({exc})",
            help="the file is damaged; replace it or move it out of the folder",
        ) from None
    if isinstance(got, str):
        raise error(
            f"{path}: {got}", help="the file is damaged; replace it or move it out of the folder"
        )
    width, height = got
    if width * height == 0:
        raise error(f"{path}: the image header declares {width}x{height} pixels")
    if width * height > limit:
        raise error(
            f"{path}: the image header declares {width:,}x{height:,} pixels "
            f"({width * height:,}), over the limit of {limit:,} (e.g. 8192x4096); "
            "refused before decoding",
            help="downscale the picture, or move it out",
        )
    return width, height
