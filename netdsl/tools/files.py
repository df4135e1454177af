"""Rewriting a user's file the way a careful editor does (``netdsl fmt --write``).

:func:`rewrite` follows a symbolic link and writes its target; refuses a read-only file (no write
bit for anyone: even root is refused, as an editor asks first); keeps the file's mode, owner,
group and hard links; and never leaves half a file behind.

Two ways to write, chosen per file (the rule Vim's ``backupcopy=auto`` follows):

* **rename** (the usual case): the new text goes to a temporary sibling, is flushed to disk
  (``fsync``), gets the original's mode and owner, and is renamed over the original. A crash or a
  full disk at any moment leaves the old file or the new one, whole. But a rename makes a new
  inode, so it would split hard links, and it cannot keep an owner this process may not give away.
* **in place**, when the file has other hard links or its owner/group cannot be given to the
  temporary file: the temporary sibling is written and flushed first (so the full new text is on
  disk), then copied into the original inode (``r+``, write, truncate, ``fsync``) and removed.
  Links, owner and inode survive; the trade-off is a window during the copy in which the original
  is partly written. If that copy fails (a full disk cannot happen here: the file only needs the
  space it is given back, but an I/O error can), the temporary copy is kept and the error names it,
  so the new text is never lost; only a crash mid-copy can leave a mixed file, and then the whole
  new text is in the named temporary file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from ..errors import NetdslFileError

__all__ = ["BOM", "NetdslFileError", "rewrite"]

BOM = "\ufeff"


def rewrite(path: str, text: str) -> str:
    """Replace the contents of ``path`` (or of the file its symlinks lead to) with ``text`` as
    UTF-8; returns the path actually written. Raises :class:`NetdslFileError`."""
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except OSError as e:
        raise NetdslFileError(f"cannot write {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise NetdslFileError(f"cannot write {path}: not a regular file")
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise NetdslFileError(
            f"cannot write {path}: the file is read-only (mode {stat.S_IMODE(st.st_mode):03o})",
            help=f"make it writable first (chmod u+w {path}) if you mean to reformat it",
        )
    data = text.encode("utf-8")
    tmp = _write_temporary(target, data, path)
    try:
        in_place = st.st_nlink > 1 or not _same_owner(tmp, st)
        if not in_place:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            os.replace(tmp, target)
            return target
    except OSError as e:
        _remove(tmp)
        raise NetdslFileError(
            f"cannot write {path}: {e.strerror or e}; the file is unchanged"
        ) from None
    except BaseException:
        _remove(tmp)
        raise
    _copy_into(tmp, target, data, path)  # an interrupt here keeps tmp: it holds the whole new text
    _remove(tmp)
    return target


def _write_temporary(target: str, data: bytes, shown: str) -> str:
    """A flushed sibling of ``target`` holding ``data`` (same folder: a rename stays atomic)."""
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".netdsl-tmp", dir=folder
        )
    except OSError as e:
        raise NetdslFileError(f"cannot write {shown}: {e.strerror or e} (in {folder})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        _remove(tmp)
        raise NetdslFileError(
            f"cannot write {shown}: {e.strerror or e}; the file is unchanged"
        ) from None
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _same_owner(tmp: str, st: os.stat_result) -> bool:
    """Give ``tmp`` the original's owner and group; False if this process may not."""
    tst = os.stat(tmp)
    if (tst.st_uid, tst.st_gid) == (st.st_uid, st.st_gid):
        return True
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except OSError:
        return False
    return True


def _copy_into(tmp: str, target: str, data: bytes, shown: str) -> None:
    """Write ``data`` into the existing inode of ``target``; on failure keep ``tmp`` and say where."""
    try:
        with open(target, "r+b") as f:
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise NetdslFileError(
            f"cannot write {shown}: {e.strerror or e}", help=f"the formatted text is kept in {tmp}"
        ) from None


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
