"""Reading a response body so that what a server sends cannot decide how much memory we use.

The body is read as it arrives, decoded (gzip, deflate) in bounded steps, counted, checked for JSON shape
(`jsonshape`), and kept in memory while small, else spilled to a file. Past a cap (`fetch.max_body_mb`) the
reading stops: the first bytes are kept as evidence and the call ends as `body_too_large`.

Why not httpx's own decoding (`Response.aiter_bytes`): it inflates each network read in one step, and it
chains stacked encodings (`Content-Encoding: gzip, gzip`), so one 64 KiB read of a doubly gzipped bomb becomes
~1,000 x 1,000 times larger in one allocation, before any count can stop it. Here every step yields at most
DECODE_STEP bytes, however the encodings are stacked. Encodings other than gzip and deflate are passed
through undecoded, as httpx does without brotli or zstandard installed (neither is a dependency here).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import weakref
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.modelarts.jsonshape import JsonShape

MiB = 1 << 20
DEFAULT_MAX_BODY_BYTES = 64 * MiB
# A body above this size goes to a file as it arrives instead of RAM. At the default concurrency cap (128
# attempts in flight; rate_limit auto keeps rate x latency x 2 under it) that bounds the bodies held in memory
# to 128 MiB, and still to 1 GiB at the configurable maximum of 1,024. Real answers stay far below: a listing of 200 pools is ~0.4 MiB, an error body well under 1 KiB.
IN_MEMORY_BYTES = 1 * MiB
# A failed attempt's body waits in the call's history during the back-off, and a snapshot may have a thousand
# calls waiting: above this size it waits in a file (error bodies are ~200 bytes; a proxy's HTML page a few KiB).
HISTORY_IN_MEMORY_BYTES = 16 * 1024
# What is kept of a body that was too large (and what error messages and request ids are read from).
EVIDENCE_BYTES = 64 * 1024
# The most bytes one decoding step may produce.
DECODE_STEP = 1 * MiB
_READ_SIZE = 1 * MiB  # when streaming a spilled body back


class DecodingError(Exception):
    """The body's Content-Encoding did not decode."""


class SpoolError(Exception):
    """A large body could not be written to its spool file (disk full, folder gone)."""


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class SpilledBody:
    """A body kept in a file rather than in memory. The file is removed when this object goes away, unless
    `move_to` has taken it (the landing moves it into the raw set without copying)."""

    def __init__(self, path: Path, size: int, head: bytes) -> None:
        self.path = path
        self.size = size
        self.head = head  # the first bytes, at most EVIDENCE_BYTES
        self._cleanup = weakref.finalize(self, _remove, str(path))

    def __repr__(self) -> str:
        return f"SpilledBody({str(self.path)!r}, size={self.size})"

    def __len__(self) -> int:
        return self.size

    def chunks(self, size: int = _READ_SIZE) -> Iterator[bytes]:
        with open(self.path, "rb") as fh:
            while chunk := fh.read(size):
                yield chunk

    def read(self) -> bytes:
        """The whole body in memory: only for callers that have checked its size."""
        return self.path.read_bytes()

    def move_to(self, dest: Path) -> None:
        """Take the file (same filesystem: a rename). It is no longer removed with this object."""
        self._cleanup.detach()
        os.replace(self.path, dest)
        self.path = dest

    def discard(self) -> None:
        self._cleanup()


Body = bytes | SpilledBody


def body_size(body: Body) -> int:
    return body.size if isinstance(body, SpilledBody) else len(body)


def body_head(body: Body, limit: int = EVIDENCE_BYTES) -> bytes:
    """The first bytes of a body (all of it when in memory and small)."""
    return body.head[:limit] if isinstance(body, SpilledBody) else body[:limit]


def spill(data: bytes, spool_dir: Path | None) -> SpilledBody:
    """Put bytes at hand into a spool file."""
    fd, path = _spool_file(spool_dir)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return SpilledBody(Path(path), len(data), data[:EVIDENCE_BYTES])


def _spool_file(spool_dir: Path | None) -> tuple[int, str]:
    if spool_dir is not None:
        spool_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix="body-", suffix=".part", dir=spool_dir)


def _write(fh, data: Iterable[bytes]) -> None:
    try:
        fh.writelines(data)
    except OSError as exc:
        raise SpoolError(f"cannot write a spool file: {exc.strerror or type(exc).__name__}") from None


# ---------------------------------------------------------------------------------------------- decoding


class _Inflate:
    """One gzip or deflate layer, decoding in steps of at most DECODE_STEP bytes."""

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        # Like httpx: "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
        self._first = True

    def decode(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for data in pieces:
            if self._d.eof:
                continue  # bytes after the end of the stream are ignored, as httpx does
            try:
                out = self._step(data)
            except zlib.error as exc:
                if not (self._deflate and self._first):
                    raise DecodingError(f"{exc}") from None
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                self._first = False
                try:
                    out = self._step(data)
                except zlib.error as exc2:
                    raise DecodingError(f"{exc2}") from None
            self._first = False
            while out:
                yield out
                if self._d.eof or (len(out) < DECODE_STEP and not self._d.unconsumed_tail):
                    break
                try:
                    out = self._step(self._d.unconsumed_tail)
                except zlib.error as exc:
                    raise DecodingError(f"{exc}") from None

    def _step(self, data: bytes) -> bytes:
        return self._d.decompress(data, DECODE_STEP)


class _Decoder:
    """The response's Content-Encoding layers, undone in reverse order of application."""

    def __init__(self, content_encoding: list[str]) -> None:
        names = [v.strip().lower() for v in content_encoding]
        self._layers = [_Inflate(n) for n in reversed(names) if n in ("gzip", "deflate")]

    def decode(self, raw: bytes) -> Iterator[bytes]:
        pieces: Iterable[bytes] = (raw,)
        for layer in self._layers:
            pieces = layer.decode(pieces)
        return iter(pieces)


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class ReadBody:
    body: Body
    size: int  # decoded bytes received (for a body too large: where reading stopped)
    too_large: bool = False
    shape: str | None = None  # the JSON verdict, when asked for


async def read_body(
    raw: AsyncIterator[bytes],
    content_encoding: list[str],
    *,
    max_bytes: int,
    spool_dir: Path | None,
    check_json: bool,
) -> ReadBody:
    """Read, decode, count and keep a body. Raises DecodingError, and whatever `raw` raises (httpx errors)."""
    decoder = _Decoder(content_encoding)
    shape = JsonShape() if check_json else None
    chunks: list[bytes] = []
    head = b""  # the first bytes, taken when the body goes to a file
    size = 0
    fh = None
    path: str | None = None
    done = False
    try:
        async for raw_chunk in raw:
            steps = 0
            for piece in decoder.decode(raw_chunk):
                if steps:
                    await asyncio.sleep(0)  # a chunk that inflates a lot: let timeouts and other calls run
                steps += 1
                if size + len(piece) > max_bytes:
                    evidence = head if fh is not None else b"".join([*chunks, piece[:EVIDENCE_BYTES]])
                    return ReadBody(evidence[:EVIDENCE_BYTES], size + len(piece), too_large=True)
                size += len(piece)
                if shape is not None:
                    shape.feed(piece)
                if fh is None:
                    chunks.append(piece)
                    if size > IN_MEMORY_BYTES:
                        try:
                            fd, path = _spool_file(spool_dir)
                        except OSError as exc:
                            raise SpoolError(f"cannot create a spool file: {exc.strerror or type(exc).__name__}") from None
                        fh = os.fdopen(fd, "wb")
                        _write(fh, chunks)
                        head = b"".join(chunks)[:EVIDENCE_BYTES]
                        chunks = []
                else:
                    _write(fh, (piece,))
        if fh is not None:
            try:
                fh.close()
            except OSError as exc:
                raise SpoolError(f"cannot write a spool file: {exc.strerror or type(exc).__name__}") from None
            assert path is not None
            body: Body = SpilledBody(Path(path), size, head)
        else:
            body = b"".join(chunks)
        done = True
        return ReadBody(body, size, shape=shape.verdict() if shape is not None else None)
    finally:
        if fh is not None and not fh.closed:
            fh.close()
        if path is not None and not done:
            _remove(path)
        aclose = getattr(raw, "aclose", None)
        if aclose is not None and not done:
            await aclose()  # stopped early: finish the generator here, not whenever it is collected
