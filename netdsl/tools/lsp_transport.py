"""The language server's reading side: LSP base-protocol framing with bounded memory.

pygls reads a header line with no length limit and then ``read(Content-Length)`` whatever the
client declared: ``Content-Length: 1000000000000`` killed the server with ``MemoryError`` (issue
27). :class:`Framer` reads at most :data:`MAX_HEADER_BYTES` per header line and
:data:`MAX_MESSAGE_BYTES` per body; an over-limit message is logged and skipped (its bytes read
and dropped a chunk at a time, or up to the next ``Content-Length:`` header when the declared
length was a lie), and the server keeps serving.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import BinaryIO

from ..lang.parser import MAX_INPUT_BYTES

__all__ = ["MAX_HEADER_BYTES", "MAX_MESSAGE_BYTES", "Framer"]

log = logging.getLogger(__name__)

#: the largest message body read: a whole program at the size limit, written as JSON (a newline
#: or a quote is two bytes there), with room for the rest of the message
MAX_MESSAGE_BYTES = 2 * MAX_INPUT_BYTES + 1024 * 1024
#: the longest header line (``Content-Length: …``, ``Content-Type: …``)
MAX_HEADER_BYTES = 8 * 1024
#: bytes read at a time while a refused body is dropped
_CHUNK = 64 * 1024
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*([0-9]+)[ \t]*", re.I)
_NEXT_HEADER = b"Content-Length:"


class Framer:
    """Message bodies from a binary stream framed as the LSP base protocol says."""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        max_body: int = MAX_MESSAGE_BYTES,
        max_header: int = MAX_HEADER_BYTES,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.stream = stream
        self.max_body = max_body
        self.max_header = max_header
        self.on_refused = on_refused
        self.refused = 0  # messages skipped so far
        self._pending = b""  # bytes read ahead while resynchronising

    # --- reading with a put-back buffer --------------------------------------------------------
    def _readline(self, limit: int) -> bytes:
        if self._pending:
            end = self._pending.find(b"\n", 0, limit)
            cut = limit if end < 0 else end + 1
            if end >= 0 or len(self._pending) >= limit:
                line, self._pending = self._pending[:cut], self._pending[cut:]
                return line
            line, self._pending = self._pending, b""
            return line + self.stream.readline(limit - len(line))
        return self.stream.readline(limit)

    def _read(self, n: int) -> bytes:
        head, self._pending = self._pending[:n], self._pending[n:]
        if len(head) == n:
            return head
        parts, left = [head], n - len(head)
        while left:
            part = self.stream.read(left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def _read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes, as many as are there now (at least one; none at the end): a body
        being dropped is not waited for to the last byte before the next header is looked for."""
        if self._pending:
            head, self._pending = self._pending[:n], self._pending[n:]
            return head
        read1 = getattr(self.stream, "read1", None)
        return read1(n) if read1 is not None else self.stream.read(n)

    # --- the protocol ---------------------------------------------------------------------------
    def next_message(self) -> bytes | None:
        """The next body within the limits, or None when the stream ends."""
        while True:
            length = self._headers()
            if length is None:
                return None
            if length <= self.max_body:
                body = self._read(length)
                return body if len(body) == length else None
            self._refuse(
                f"a message of {length:,} bytes is over the limit of "
                f"{self.max_body:,}; it was skipped"
            )
            if not self._drop(length):
                return None

    def _headers(self) -> int | None:
        """Read a header block; its Content-Length (a block without one is skipped)."""
        length: int | None = None
        while True:
            line = self._readline(self.max_header + 1)
            if not line:
                return None
            if len(line) > self.max_header and not line.endswith(b"\n"):
                self._refuse(f"a header line over {self.max_header:,} bytes was skipped")
                if not self._skip_line():
                    return None
                continue
            if not line.strip():
                if length is not None:
                    return length
                continue  # a blank line between messages
            match = _LENGTH.fullmatch(line.rstrip(b"\r\n"))
            if match:
                digits = match.group(1).lstrip(b"0") or b"0"
                # a length of more digits than any limit is over it; int() of 5,000 digits raises
                length = int(digits) if len(digits) <= 18 else self.max_body + 1

    def _skip_line(self) -> bool:
        while True:
            part = self._readline(_CHUNK)
            if not part:
                return False
            if part.endswith(b"\n"):
                return True

    def _drop(self, length: int) -> bool:
        """Read and drop ``length`` bytes, a chunk at a time; stop early at a ``Content-Length:``
        header (the next message of a client whose declared length was a lie). False at the end."""
        left, tail = length, b""
        while left:
            chunk = self._read_some(min(_CHUNK, left))
            if not chunk:
                return False
            window = tail + chunk
            at = window.find(_NEXT_HEADER)
            if at >= 0:
                self._pending = window[at:] + self._pending
                return True
            left -= len(chunk)
            tail = window[-(len(_NEXT_HEADER) - 1) :]
        return True

    def _refuse(self, what: str) -> None:
        self.refused += 1
        log.error("netdsl lsp: %s", what)
        if self.on_refused is not None:
            self.on_refused(what)
