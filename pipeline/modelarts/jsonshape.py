"""Is a response body a whole JSON document? A structural check, fed chunk by chunk as the body arrives.

Parsing (json.loads) would answer too, but at a price a snapshot cannot pay on a hostile body: RecursionError
at ~1,000 nesting levels, UnicodeDecodeError on one bad byte in one pool's description (which would make the
whole listing look broken), memory in proportion to the number of items, and ~2x the CPU of this check on
ordinary listings. Whether each document in a body is readable is the normalizer's question; the client only
needs to know whether the body came whole, so that a cut one is tried again.

The check, per chunk, runs at C speed: escapes are dropped (`\\.`), every byte but brackets and quotes is
deleted (bytes.translate), empty strings are dropped, and the few brackets left inside strings are told apart
by quote parity. What remains are counts, so memory stays flat and any nesting depth is fine.

Verdicts: `ok`; `empty_body` (nothing but whitespace, or a BOM); `not_json` (does not start with `{` or `[`,
e.g. an HTML page); `truncated_json` (starts like JSON, but a string or a bracket is left open, or brackets
do not balance, or it does not end with the bracket that closes the first). A body whose brackets balance
but whose tokens are wrong (bad bytes, bad numbers) is `ok` here: its documents are rejected later, one by one.
"""

from __future__ import annotations

import re

OK, EMPTY, NOT_JSON, TRUNCATED = "ok", "empty_body", "not_json", "truncated_json"

_BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"
_ESCAPE = re.compile(rb"\\.", re.S)
_STRUCTURE = frozenset(b'{}[]"')
_DROP = bytes(c for c in range(256) if c not in _STRUCTURE)
_CLOSE = {ord("{"): ord("}"), ord("["): ord("]")}


class JsonShape:
    """Feed the body's bytes in order with `feed`; `verdict()` at the end."""

    __slots__ = ("_seen", "_bom", "_first", "_last", "_in_string", "_backslash", "_counts")

    def __init__(self) -> None:
        self._seen = 0  # bytes fed so far
        self._bom = True  # every byte so far is a prefix of the UTF-8 BOM
        self._first: int | None = None  # first byte that is not whitespace (nor a leading BOM)
        self._last: int | None = None  # last byte that is not whitespace
        self._in_string = False
        self._backslash = b""  # an odd backslash at the end of the previous chunk: it escapes the next byte
        self._counts = [0, 0, 0, 0]  # { } [ ] outside strings

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        start = self._seen
        self._seen += len(chunk)
        if self._first is None:
            self._find_first(chunk, start)
        if chunk[-1] in _WS:
            stripped = chunk.rstrip(_WS)
            if stripped:
                self._last = stripped[-1]
        else:
            self._last = chunk[-1]

        data = self._backslash + chunk if self._backslash else chunk
        self._backslash = b""
        if data[-1] == 0x5C:  # '\': an escape may continue in the next chunk
            run = len(data) - len(data.rstrip(b"\\"))
            if run % 2:
                data, self._backslash = data[:-1], b"\\"
        if b"\\" in data:
            data = _ESCAPE.sub(b"", data)  # left to right: "\\\"" is an escaped backslash, then an escaped quote
        small = data.translate(None, _DROP)
        if b'"' in small:
            # Removing two adjacent quotes changes no byte's parity (inside or outside a string): it only drops
            # strings that hold no bracket, which is nearly all of them, before the split below.
            small = small.replace(b'""', b"")
            parts = small.split(b'"')
            outside = parts[1::2] if self._in_string else parts[0::2]
            if len(parts) % 2 == 0:  # an odd number of quotes: a string opens or closes across the boundary
                self._in_string = not self._in_string
            small = b"".join(outside)
        elif self._in_string:
            return  # the whole chunk lies inside one string
        counts = self._counts
        counts[0] += small.count(b"{")
        counts[1] += small.count(b"}")
        counts[2] += small.count(b"[")
        counts[3] += small.count(b"]")

    def _find_first(self, chunk: bytes, start: int) -> None:
        i = 0
        # A BOM only counts at the very start of the body, and may arrive a byte at a time.
        while self._bom and start + i < len(_BOM) and i < len(chunk):
            if chunk[i] != _BOM[start + i]:
                self._bom = False
                if start + i > 0:  # a broken BOM: its first byte is the body's first byte
                    self._first = _BOM[0]
                    return
                break
            i += 1
        rest = chunk[i:].lstrip(_WS) if i < len(chunk) else b""
        if rest:
            self._first = rest[0]

    def verdict(self) -> str:
        first = self._first
        if first is None and self._bom and 0 < self._seen < len(_BOM):
            first = _BOM[0]  # the body is a lone part of a BOM
        if first is None:
            return EMPTY
        if first not in _CLOSE:
            return NOT_JSON
        opened_brace, closed_brace, opened_bracket, closed_bracket = self._counts
        if (self._in_string or self._backslash or opened_brace != closed_brace
                or opened_bracket != closed_bracket or self._last != _CLOSE[first]):
            return TRUNCATED
        return OK


def json_shape(body: bytes) -> str:
    """The verdict for a body at hand."""
    shape = JsonShape()
    shape.feed(body)
    return shape.verdict()
