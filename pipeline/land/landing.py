"""Raw landing: every response body of a snapshot run, byte for byte, before anything parses it.

A run writes into `lake/_tmp/raw-<ID>-<WRITE>-h<HOST>-p<PID>/` as calls complete (so memory stays flat however many
projects there are), then `seal()` renames the folder into `lake/raw/snapshot_id=<ID>/<WRITE>/` in one step.
Files of a sealed set are never changed again; `renormalize` rebuilds tables from them.

    calls.jsonl       one line per API call (the `fetches` table is built from it)
    responses.jsonl   one line per attempt, final or not, pointing at its body file (and offset in a pack)
    bodies/<call>-<attempt>.body
    bodies/<family>-<n>.pack
    run.json          the run: snapshot id and time, started/finished, targets

Packs: the per-pool families (PACKED_CALLS) make several calls per pool, a million small answers an hour on a
large estate, and one file each cost more to write, and to read back in normalize, than everything else done
with them (measured: ~50 us per file read against ~3 us per line of a pack). The final answer of such a call
is appended to its family's pack instead, as one line `<call_id> <body>`; the body's bytes are there unchanged,
at `body_offset` for `body_bytes` (responses.jsonl, calls.jsonl). Only a body that can be a line goes there:
held in memory, valid UTF-8, no CR or LF byte; any other (a pretty-printed answer, binary junk, a spilled large
one, an earlier attempt) keeps its own file. A pack is closed at PACK_MAX_BYTES and the next one opened, so
that normalize reads them in parallel and no single string grows past that.

The one exception to byte-for-byte: credential values (the AK, the SK, a security token) are masked out of
bodies, in every form `pipeline.modelarts.masking` derives (any case, percent-encoded, base64, JSON-escaped),
because gateways echo the AK in 401 messages and a landed file must never hold a secret.

Large bodies arrive as spool files (`SpilledBody`) in `spool/` inside the work folder: landing one is a rename
into `bodies/`, after one streaming pass that hashes it and looks for secrets (rewriting it only if one occurs),
so no body is ever held whole in memory here.
"""

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.lake.durable import fsync_dir
from pipeline.lake.layout import Layout, new_write_id
from pipeline.lake.lease import release, work_dir
from pipeline.modelarts.body import Body, SpilledBody
from pipeline.modelarts.masking import Masker, masker_for
from pipeline.modelarts.repeated import CHECK_MAX_BYTES, has_repeated_keys


@dataclass(frozen=True)
class TargetRef:
    """What a call was aimed at. No credentials here: this is written to disk."""

    region: str
    project_id: str
    endpoint: str
    workspace_id: str | None = None
    label_selector: str | None = None
    status: str | None = None  # the listing's status filter (created/creating/failed)


@dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime
    duration_ms: float
    http_status: int | None
    reason: str
    error_code: str | None
    request_id: str | None
    body: Body = field(repr=False)  # bytes, or a spool file the landing takes over


@dataclass(frozen=True)
class CallRecord:
    """One API call's outcome, as the `fetches` table shows it."""

    call_id: str
    call: str  # list_pools | show_pool | list_resource_flavors | list_projects | project_names
    target: TargetRef
    pool_id: str | None
    method: str
    path: str
    query: str
    outcome: str  # ok | error
    http_status: int | None
    error_code: str | None
    error_msg: str | None
    request_id: str | None
    attempts: int
    started_at: datetime
    duration_ms: float
    body_file: str | None  # the final attempt's body, relative to the raw set folder
    page: int = 0
    # Where the body sits in body_file when that is a pack (several bodies); None when the file is the body.
    body_offset: int | None = None
    body_bytes: int | None = None
    reason: str | None = None  # the final attempt's reason: ok, http_503, timeout, truncated_json, ...
    # A pool body (ok list_pools / show_pool) that repeats a key in some object (pipeline.modelarts.repeated):
    # the normalizer then reads the last value, as the SDK does. None: not checked (other calls; a body over
    # CHECK_MAX_BYTES, or one that json cannot parse).
    repeated_keys: bool | None = None


POOL_CALLS = ("list_pools", "show_pool")  # the calls whose bodies hold pools (normalized)
# The per-pool families: their final answers are packed (see the module docstring).
PACKED_CALLS = ("pool_nodes", "pool_monitor", "workload_statistics", "pool_events")
PACK_MAX_BYTES = 64 << 20


def packable(body) -> bool:
    """Can this body be one line of a pack, byte for byte? (In memory, valid UTF-8, no CR or LF.)"""
    if not isinstance(body, bytes) or b"\n" in body or b"\r" in body:
        return False
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def mask_secrets(body: bytes, secrets: Iterable[bytes | str]) -> bytes:
    """`body` with every form of each secret (see `masking.secret_forms`) replaced by ***."""
    return masker_for(tuple(secrets)).mask_bytes(body)


class RawLanding:
    """Writes one snapshot run's raw set. Thread-safe and cheap to call from an event loop."""

    def __init__(self, layout: Layout, snapshot_id: str, snapshot_at: datetime,
                 secrets: Iterable[str | None] = ()):
        layout.ensure()
        self.layout = layout
        self.snapshot_id = snapshot_id
        self.snapshot_at = snapshot_at
        self.write_id = new_write_id()
        self.started_at = datetime.now(timezone.utc)
        # A leased working folder: garbage collection, here or on another host, leaves it alone while we run.
        self.work = work_dir(layout.tmp, f"raw-{snapshot_id}-{self.write_id}")
        try:
            (self.work / "bodies").mkdir()
            # Where the client spills large bodies: the same filesystem as bodies/, so landing one is a rename.
            self.spool_dir = self.work / "spool"
            self.spool_dir.mkdir()
            self._calls = open(self.work / "calls.jsonl", "w", encoding="utf-8")
            self._responses = open(self.work / "responses.jsonl", "w", encoding="utf-8")
        except BaseException:
            release(self.work)
            raise
        # Short values are ignored by the masker: masking short strings would corrupt ordinary text.
        self._masker = Masker(tuple(secrets))
        self._lock = threading.Lock()
        self._packs: dict[str, tuple[object, str, int]] = {}  # call -> (open file, relative name, bytes written)
        self._pack_count: dict[str, int] = {}
        self._seq = 0
        self.records: list[CallRecord] = []
        self.final: Path | None = None

    def next_call_id(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{self._seq:06d}"

    def _write_body(self, name: str, body: Body) -> tuple[str, int, str]:
        rel = f"bodies/{name}.body"
        if isinstance(body, SpilledBody):
            size, digest = self._take_spilled(body, self.work / rel)
            return rel, size, digest
        data = self._masker.mask_bytes(body)
        with open(self.work / rel, "wb") as fh:
            fh.write(data)
        return rel, len(data), hashlib.sha256(data).hexdigest()

    def _pack_body(self, call: str, call_id: str, body: bytes) -> tuple[str, int, int, str] | None:
        """Append a final answer to its family's pack; returns (pack, offset, size, sha256), or None when the
        body (masked) cannot be a line and needs its own file."""
        if not isinstance(body, bytes):  # spilled: large, it lands by a rename
            return None
        data = self._masker.mask_bytes(body)
        if not packable(data):
            return None
        prefix = call_id.encode() + b" "
        with self._lock:
            fh, rel, size = self._packs.get(call, (None, "", 0))
            if fh is None or size >= PACK_MAX_BYTES:
                if fh is not None:  # full: durable now, as the rest of the set is at seal()
                    fh.flush()
                    os.fsync(fh.fileno())
                    fh.close()
                n = self._pack_count[call] = self._pack_count.get(call, 0) + 1
                rel = f"bodies/{call}-{n:04d}.pack"
                fh, size = open(self.work / rel, "ab"), 0
            fh.write(prefix + data + b"\n")
            offset = size + len(prefix)
            self._packs[call] = (fh, rel, size + len(prefix) + len(data) + 1)
        return rel, offset, len(data), hashlib.sha256(data).hexdigest()

    def _take_spilled(self, body: SpilledBody, dest: Path) -> tuple[int, str]:
        """Move a spool file into the set, masked; returns its (size, sha256) as landed.

        One streaming pass hashes it and looks for secrets; only a body that may hold one is rewritten (the
        look-up overlaps chunks by the longest form, so a form split between two chunks is seen).
        """
        digest = hashlib.sha256()
        suspect = False
        keep = max(self._masker.max_len - 1, 0)
        tail = b""
        for chunk in body.chunks():
            digest.update(chunk)
            if self._masker and not suspect:
                suspect = self._masker.maybe_in(tail + chunk)
                tail = chunk[-keep:] if keep else b""
        if not suspect:
            body.move_to(dest)
            return body.size, digest.hexdigest()
        digest, size = hashlib.sha256(), 0
        with open(dest, "wb") as fh:
            for chunk in self._masker.mask_stream(body.chunks()):
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        body.discard()
        return size, digest.hexdigest()

    def record(
        self,
        *,
        call: str,
        target: TargetRef,
        pool_id: str | None,
        method: str,
        path: str,
        query: str,
        outcome: str,
        error_msg: str | None,
        attempts: list[Attempt],
        page: int = 0,
        reason: str | None = None,
    ) -> CallRecord:
        """Land every attempt's body of one call and its index lines; returns the call's fetch record.
        `reason` overrides the final attempt's for the call's record (a listing found incomplete afterwards)."""
        call_id = self.next_call_id()
        body_file = body_offset = None
        lines = []
        for a in attempts:
            packed = None
            if a is attempts[-1] and outcome == "ok" and call in PACKED_CALLS:
                packed = self._pack_body(call, call_id, a.body)
            if packed:
                rel, body_offset, size, digest = packed
            else:
                rel, size, digest = self._write_body(f"{call_id}-{a.attempt}", a.body)
            body_file = rel
            lines.append(json.dumps({
                "call_id": call_id, "attempt": a.attempt, "final": a is attempts[-1],
                "started_at": _iso(a.started_at), "duration_ms": round(a.duration_ms, 3),
                "http_status": a.http_status, "reason": a.reason, "error_code": a.error_code,
                "request_id": a.request_id, "body_file": rel, "body_bytes": size, "body_sha256": digest,
                **({"body_offset": body_offset} if packed else {}),
            }))
        last = attempts[-1] if attempts else None
        repeated = None
        if call in POOL_CALLS and outcome == "ok" and body_file and size <= CHECK_MAX_BYTES:
            repeated = has_repeated_keys((self.work / body_file).read_bytes())  # just written: in the page cache
        started = attempts[0].started_at if attempts else datetime.now(timezone.utc)
        total_ms = sum(a.duration_ms for a in attempts)
        if last is not None:
            total_ms = max(total_ms, (last.started_at - started).total_seconds() * 1000 + last.duration_ms)
        rec = CallRecord(
            call_id=call_id, call=call, target=target, pool_id=pool_id, method=method, path=path, query=query,
            outcome=outcome, http_status=last.http_status if last else None,
            error_code=last.error_code if last else None, error_msg=error_msg,
            request_id=last.request_id if last else None, attempts=len(attempts), started_at=started,
            duration_ms=round(total_ms, 3), body_file=body_file, page=page, body_offset=body_offset,
            body_bytes=size if body_offset is not None else None,
            reason=reason or (last.reason if last else None), repeated_keys=repeated,
        )
        line = asdict(rec)
        line["target"] = asdict(target)
        line["started_at"] = _iso(started)
        with self._lock:
            for text in lines:
                self._responses.write(text + "\n")
            self._calls.write(json.dumps(line) + "\n")
            self.records.append(rec)
        return rec

    def seal(self, run: dict) -> Path:
        """Flush, fsync and move the set into place; from here on it is immutable."""
        with self._lock:
            for fh in (self._calls, self._responses, *(f for f, _, _ in self._packs.values())):
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
            self._packs.clear()
            meta = {
                "snapshot_id": self.snapshot_id,
                "snapshot_at": _iso(self.snapshot_at),
                "write_id": self.write_id,
                "started_at": _iso(self.started_at),
                "sealed_at": _iso(datetime.now(timezone.utc)),
                **run,
            }
            (self.work / "run.json").write_text(json.dumps(meta, indent=1))
            # Spool files not landed belong to attempts nobody recorded: not part of the set.
            shutil.rmtree(self.spool_dir, ignore_errors=True)
            final = self.layout.raw_dir(self.snapshot_id, self.write_id)
            final.parent.mkdir(parents=True, exist_ok=True)
            release(self.work)  # the lease stays out of the sealed set
            os.replace(self.work, final)
            fsync_dir(final.parent)
            self.final = final
            return final

    def abandon(self) -> None:
        """Close files; the folder stays in _tmp as debris that the next run cleans up."""
        release(self.work)
        with self._lock:
            for fh in (self._calls, self._responses, *(f for f, _, _ in self._packs.values())):
                if not fh.closed:
                    fh.close()
            self._packs.clear()
