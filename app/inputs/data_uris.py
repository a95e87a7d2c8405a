"""Inline data URIs of a JSON edit, decoded while the body streams in.

A big JSON edit is mostly base64 data URIs. :class:`DataUriExtractor` takes the body chunk by
chunk and copies it into a small *skeleton*, except for string values that start with ``data:``
and run past ``INLINE_LIMIT`` bytes: their base64 is decoded in slices straight into the
request's spool (memory, then a temporary file), and the skeleton gets a placeholder string
(``data:imagegate/spooled;<nonce>;<n>``, the nonce random per request) that is parsed like any
image reference and then looked up in :attr:`DataUriExtractor.images`. The body, a string copy
of it and the decoded bytes never exist at once: memory per request is the skeleton, a chunk and
the spool's buffer. Shorter ``data:`` strings stay in the skeleton and take the ordinary path.
"""

from __future__ import annotations

import binascii
import re
import secrets
from dataclasses import dataclass

import pybase64

from app.core.edits import file_too_large
from app.domain import Blob
from app.errors import InvalidRequest
from app.inputs.spool import Spool, SpoolWriter

INLINE_LIMIT = 64 * 1024  # a data: string shorter than this stays in the skeleton
_HEADER_LIMIT = 256  # bytes of "data:...;base64," before the payload
_SPECIAL = re.compile(rb'["\\]')
_WHITESPACE = b" \t\r\n"
_ESCAPED = {ord("/"): b"/", ord("n"): b"", ord("r"): b"", ord("t"): b""}
_BASE64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_OUT, _HEAD, _STRING, _PENDING, _BODY, _SKIP = range(6)


@dataclass(frozen=True, slots=True)
class InlineImage:
    """A data URI decoded into the spool, or why it could not be (safe to show the client)."""

    blob: Blob | None
    problem: str | None = None

    def checked(self, param: str, max_bytes: int) -> Blob:
        """The blob of the image named ``param``; InvalidRequest when it is no usable one."""
        if self.blob is None:
            raise InvalidRequest(
                f"Invalid data URI in '{param}': {self.problem}.",
                param=param,
                code="invalid_image_url",
            )
        if self.blob.size > max_bytes:
            raise file_too_large(param, max_bytes)
        return self.blob


class _Base64:
    """Strict base64 fed in pieces: whole 4-character groups are decoded, the rest carried."""

    def __init__(self) -> None:
        self._carry = b""
        self._padded = False

    def feed(self, text: bytes | bytearray) -> bytes:
        """Decoded bytes; ValueError when the text is not base64."""
        if any(c in text for c in _WHITESPACE):
            text = text.translate(None, _WHITESPACE)
        if not text:
            return b""
        if self._padded:
            raise ValueError("data after the padding")
        data = self._carry + text
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        return self._decode(data[:cut])

    def finish(self) -> bytes:
        tail, self._carry = self._carry, b""
        if not tail:
            return b""
        if self._padded:
            raise ValueError("data after the padding")
        return self._decode(tail + b"=" * (-len(tail) % 4))

    def _decode(self, groups: bytes) -> bytes:
        if b"=" not in groups:
            try:
                return pybase64.b64decode(groups, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("not base64") from None
        self._padded = True
        try:
            return binascii.a2b_base64(groups, strict_mode=True)
        except binascii.Error:
            raise ValueError("not base64") from None


class DataUriExtractor:
    def __init__(self, spool: Spool, skeleton_limit: int) -> None:
        self.skeleton = bytearray()
        self.images: dict[str, InlineImage] = {}
        self.skeleton_limit = skeleton_limit
        self._spool = spool
        self._nonce = secrets.token_hex(12)
        self._state = _OUT
        self._rest = bytearray()  # undecided bytes, kept for the next chunk (<= INLINE_LIMIT)
        self._scanned = 0  # how far into ``_rest`` a pending data: string was already scanned
        self._key = ""
        self._writer: SpoolWriter | None = None
        self._base64 = _Base64()
        self._finished: list[tuple[str, SpoolWriter]] = []

    @property
    def in_string(self) -> bool:
        return self._state != _OUT

    async def feed(self, chunk: bytes) -> None:
        """Take the next piece of the body; decoded bytes go to the spool as they come."""
        buffer: bytes | bytearray = chunk
        if self._rest:  # appended in place: a trickling client costs no repeated copies
            self._rest += chunk
            buffer, self._rest = self._rest, bytearray()
        self._scan(buffer)
        for key, writer in self._finished:
            self.images[key] = InlineImage(await writer.finish())
        self._finished.clear()
        if self._writer is not None:
            await self._writer.drain()

    def _scan(self, buffer: bytes | bytearray) -> None:
        pos, end = 0, len(buffer)
        steps = {_OUT: self._out, _HEAD: self._head, _STRING: self._string,
                 _PENDING: self._pending, _BODY: self._body, _SKIP: self._skip}  # fmt: skip
        while pos < end:
            step = steps[self._state](buffer, pos)
            if step is None:  # needs more bytes to decide
                kept = buffer[pos:] if pos else buffer
                self._rest = kept if isinstance(kept, bytearray) else bytearray(kept)
                return
            pos = step

    def _copy(self, data: bytes | bytearray) -> None:
        self.skeleton += data

    def _out(self, buffer: bytes | bytearray, pos: int) -> int:
        quote = buffer.find(b'"', pos)
        if quote < 0:
            self._copy(buffer[pos:])
            return len(buffer)
        self._copy(buffer[pos : quote + 1])
        self._state = _HEAD
        return quote + 1

    def _head(self, buffer: bytes | bytearray, pos: int) -> int | None:
        head = buffer[pos : pos + 5]
        if len(head) < 5 and not _SPECIAL.search(head):
            return None
        self._state = _PENDING if head.lower() == b"data:" else _STRING
        self._scanned = 0
        return pos

    def _string(self, buffer: bytes | bytearray, pos: int) -> int | None:
        found = _SPECIAL.search(buffer, pos)
        if found is None:
            self._copy(buffer[pos:])
            return len(buffer)
        at = found.start()
        if buffer[at] == ord("\\"):
            if at + 1 >= len(buffer):
                self._copy(buffer[pos:at])
                return None if at == pos else at
            self._copy(buffer[pos : at + 2])
            return at + 2
        self._copy(buffer[pos : at + 1])
        self._state = _OUT
        return at + 1

    def _pending(self, buffer: bytes | bytearray, pos: int) -> int | None:
        """A ``data:`` string: kept whole in the skeleton if it ends soon, else diverted."""
        scan = pos + self._scanned
        while True:
            found = _SPECIAL.search(buffer, scan, pos + INLINE_LIMIT)
            if found is None or buffer[found.start()] == ord('"'):
                break
            scan = found.start() + 2
        if found is not None:
            self._copy(buffer[pos : found.start() + 1])
            self._state = _OUT
            return found.start() + 1
        if len(buffer) - pos < INLINE_LIMIT:
            self._scanned = max(scan, len(buffer)) - pos  # past an escape that is cut off
            return None
        return self._divert(buffer, pos)

    def _divert(self, buffer: bytes | bytearray, pos: int) -> int:
        self._key = f"data:imagegate/spooled;{self._nonce};{len(self.images) + len(self._finished)}"
        self._copy(self._key.encode())
        comma = buffer.find(b",", pos, pos + _HEADER_LIMIT)
        header = buffer[pos:comma].replace(b"\\/", b"/").lower() if comma >= 0 else b""
        if not header.endswith(b";base64"):
            self._fail("only base64 data URIs are accepted ('data:image/png;base64,...')")
            return pos
        self._writer = self._spool.writer()
        self._base64 = _Base64()
        self._state = _BODY
        return comma + 1

    def _body(self, buffer: bytes | bytearray, pos: int) -> int | None:
        found = _SPECIAL.search(buffer, pos)
        at = len(buffer) if found is None else found.start()
        try:
            self._decoded(self._base64.feed(buffer[pos:at]))
            if found is None:
                return at
            if buffer[at] == ord('"'):
                self._decoded(self._base64.finish())
                self._close_string()
                return at + 1
            return self._escape(buffer, pos, at)
        except ValueError:
            self._fail("the data is not valid base64")
            return at

    def _escape(self, buffer: bytes | bytearray, pos: int, at: int) -> int | None:
        """A JSON escape inside base64: ``\\/``, line breaks, or ``\\u00XX`` of a base64 char."""
        if at + 1 >= len(buffer):
            return None if at == pos else at
        kind = buffer[at + 1]
        if kind in _ESCAPED:
            self._decoded(self._base64.feed(_ESCAPED[kind]))
            return at + 2
        if kind == ord("u"):
            if at + 6 > len(buffer):
                return None if at == pos else at
            code = int(buffer[at + 2 : at + 6], 16) if _is_hex(buffer[at + 2 : at + 6]) else -1
            if code in _BASE64_CHARS or code in _WHITESPACE:
                self._decoded(self._base64.feed(bytes([code])))
                return at + 6
        raise ValueError("an escape that is not base64")

    def _skip(self, buffer: bytes | bytearray, pos: int) -> int | None:
        found = _SPECIAL.search(buffer, pos)
        if found is None:
            return len(buffer)
        at = found.start()
        if buffer[at] == ord('"'):
            self._close_string()
            return at + 1
        if at + 1 >= len(buffer):
            return None if at == pos else at
        return at + 2

    def _decoded(self, data: bytes) -> None:
        if data and self._writer is not None:
            self._writer.append(data)

    def _fail(self, problem: str) -> None:
        self.images[self._key] = InlineImage(None, problem)
        self._writer = None
        self._state = _SKIP

    def _close_string(self) -> None:
        if self._writer is not None:
            self._finished.append((self._key, self._writer))
            self._writer = None
        self._copy(b'"')
        self._state = _OUT


def _is_hex(text: bytes | bytearray) -> bool:
    return len(text) == 4 and all(c in b"0123456789abcdefABCDEF" for c in text)
