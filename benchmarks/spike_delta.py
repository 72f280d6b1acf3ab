"""Spike for issue 14: Delta Lake (delta-rs 1.6) on local disk and on a real S3 server (SeaweedFS), measured.

    .venv/bin/python -m benchmarks.spike_delta [--only a,b1,b2,cd,e] [--commits 500] [--snapshots 500]

Prints figures; benchmarks/SPIKE_DELTA.md holds a run's answers. Not part of `make bench` (yet). Sections:
  a   conditional writes: If-None-Match straight to SeaweedFS (SigV4 over httpx); two processes committing to one
      table at once (append, replace-by-predicate, append against a compaction), rows lost or duplicated?
  b1  cost of one commit as one table's log grows (1..N real commits), checkpoint interval 100 / 10 / none
  b2  cost of one snapshot (40 tables, one commit each) after 1, 100, 500 previous snapshots
  cd  reading the 500-snapshot lake into DuckDB without the delta extension; optimize.compact + vacuum; a
      reader holding the file list from before the vacuum
  e   HTTP requests per commit (a logging proxy in front of SeaweedFS)
The 100- and 500-snapshot lakes of b2/cd are built in bulk (files written with pyarrow, one commit of add
actions per table, then a checkpoint): the state a table reaches after N commits and a checkpoint, without
N x 40 real commits (b1 measures what real commits cost as the log grows).
"""

import argparse
import datetime as dt_
import hashlib
import hmac
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, PostCommitHookProperties, write_deltalake
from deltalake.transaction import AddAction
from pyarrow import fs as pafs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from s3kit import seaweed  # noqa: E402  (the test kit's server: one way to start SeaweedFS)

TABLES = 40
START = dt_.datetime(2026, 11, 1, tzinfo=dt_.timezone.utc)


def say(*parts) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------- data

def snapshot_of(i: int) -> tuple[str, str]:
    at = START + dt_.timedelta(hours=i)
    return at.strftime("%Y%m%dT%H%M%SZ"), at.strftime("%Y-%m-%d")


def specs(n: int = TABLES, seed: int = 14) -> list[tuple[int, int]]:
    """(rows, columns) of each table: rows log-uniform in 10..2,000 (most tables small), 5..30 columns."""
    rnd = random.Random(seed)
    return [(int(10 * 200 ** rnd.random()), rnd.randint(5, 30)) for _ in range(n)]


_BASES: dict[tuple[int, int], pa.Table] = {}


def base(rows: int, cols: int) -> pa.Table:
    key = (rows, cols)
    if key not in _BASES:
        rnd = random.Random(rows * 1000 + cols)
        data = {}
        for c in range(cols - 2):
            kind = c % 3
            if kind == 0:
                data[f"i{c}"] = pa.array([rnd.randint(0, 64) for _ in range(rows)], pa.int64())
            elif kind == 1:
                data[f"f{c}"] = pa.array([rnd.random() * 100 for _ in range(rows)], pa.float64())
            else:
                data[f"s{c}"] = pa.array([f"pool-{rnd.randint(0, 2000)}" for _ in range(rows)], pa.string())
        _BASES[key] = pa.table(data)
    return _BASES[key]


def snapshot_table(spec: tuple[int, int], i: int, tag: str | None = None) -> pa.Table:
    sid, day = snapshot_of(i)
    t = base(*spec)
    n = t.num_rows
    t = t.add_column(0, "snapshot_day", pa.array([day] * n, pa.string()))
    return t.add_column(0, "snapshot_id", pa.array([tag or sid] * n, pa.string()))


def hook(checkpoints: bool) -> PostCommitHookProperties:
    return PostCommitHookProperties(create_checkpoint=checkpoints)


def config(interval: int | None) -> dict[str, str] | None:
    return {"delta.checkpointInterval": str(interval)} if interval else None


# ---------------------------------------------------------------- storage

class Local:
    name = "local"

    def __init__(self, root: Path):
        self.root = root

    def url(self, key: str) -> str:
        return str(self.root / key)

    def options(self) -> dict[str, str] | None:
        return None

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self.root)


class S3:
    name = "s3"

    def __init__(self, server, prefix: str):
        self.server, self.prefix = server, prefix

    def url(self, key: str) -> str:
        return self.server.url(f"{self.prefix}/{key}")

    def options(self) -> dict[str, str]:
        return self.server.storage_options()

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return self.server.filesystem(), f"{self.server.bucket}/{self.prefix}"


def open_table(store, key: str) -> DeltaTable:
    return DeltaTable(store.url(key), storage_options=store.options())


# ---------------------------------------------------------------- a: conditional writes

def sigv4(method: str, endpoint: str, key: str, body: bytes, ak: str, sk: str, headers: dict | None = None,
          region: str = "us-east-1") -> httpx.Response:
    """A minimal SigV4-signed request (pyarrow and fsspec cannot send If-None-Match; no boto here)."""
    now = dt_.datetime.now(dt_.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    path = "/" + urllib.parse.quote(key, safe="/-_.~")
    payload = hashlib.sha256(body).hexdigest()
    h = {"host": endpoint.removeprefix("http://"), "x-amz-date": amz_date, "x-amz-content-sha256": payload,
         **{k.lower(): v for k, v in (headers or {}).items()}}
    names = sorted(h)
    canonical = "\n".join([method, path, "", *(f"{n}:{h[n].strip()}" for n in names), "", ";".join(names), payload])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + sk).encode()
    for part in (day, region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    h["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={';'.join(names)}, "
                          f"Signature={hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()}")
    return httpx.request(method, endpoint + path, headers=h, content=body, timeout=30)


def a_if_none_match(server) -> None:
    def req(method, key, body=b"", **headers):
        return sigv4(method, server.endpoint, key, body, server.access_key, server.secret_key, headers)
    first = req("PUT", "lake/inm/00.json", b"first", **{"If-None-Match": "*"}).status_code
    second = req("PUT", "lake/inm/00.json", b"second", **{"If-None-Match": "*"}).status_code
    kept = req("GET", "lake/inm/00.json").content
    etag = req("HEAD", "lake/inm/00.json").headers.get("etag")
    wrong = req("PUT", "lake/inm/00.json", b"x", **{"If-Match": '"0"'}).status_code
    right = req("PUT", "lake/inm/00.json", b"third", **{"If-Match": etag}).status_code
    say(f"a1 If-None-Match: create {first}, again {second}, object kept {kept!r}; If-Match wrong etag {wrong}, "
        f"right etag {right}")
    winners = []
    for rnd in range(5):
        barrier = threading.Barrier(16)

        def racer(i, rnd=rnd, barrier=barrier):
            barrier.wait()
            return req("PUT", f"lake/inm/race-{rnd}.json", f"w{i}".encode(), **{"If-None-Match": "*"}).status_code
        with ThreadPoolExecutor(16) as ex:
            codes = list(ex.map(racer, range(16)))
        winners.append((codes.count(200), codes.count(412), len(codes) - codes.count(200) - codes.count(412)))
    say(f"a1 race, 16 threads x 5 keys: (200s, 412s, other) per key {winners}")


def worker(mode: str, url: str, writer: str, n: int, start_at: float) -> None:
    """One writer process of the concurrency scenarios (prints a JSON summary line)."""
    options = json.loads(os.environ.get("SPIKE_STORAGE_OPTIONS") or "null")
    time.sleep(max(0.0, start_at - time.time()))
    done, errors, t0 = [], [], time.perf_counter()
    for i in range(n):
        try:
            if mode == "compact":
                DeltaTable(url, storage_options=options).optimize.compact()
                done.append(i)
                time.sleep(0.2)
                continue
            tag = f"{writer}-{i:03d}"
            t = snapshot_table((20, 6), i, tag=tag)
            if mode == "append":
                write_deltalake(url, t, mode="append", storage_options=options)
            else:  # a re-run of one snapshot: replace its rows
                write_deltalake(url, t, mode="overwrite", predicate=f"snapshot_id = '{tag}'", storage_options=options)
            done.append(tag)
        except Exception as e:  # noqa: BLE001 (recorded, the scenario's finding)
            errors.append(f"{type(e).__name__}: {str(e)[:160]}")
    print(json.dumps({"done": done, "errors": errors, "seconds": time.perf_counter() - t0}))


def _run_writers(options, url: str, jobs: list[tuple[str, str, int]]) -> list[dict]:
    env = dict(os.environ)
    env["SPIKE_STORAGE_OPTIONS"] = json.dumps(options)  # the children's environment only, never printed
    start_at = time.time() + 2.5
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.spike_delta", "worker", mode, url, w, str(n),
                               str(start_at)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
             for mode, w, n in jobs]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def a_concurrency(store) -> None:
    rec = None
    options = store.options()
    if store.name == "s3":  # the writers go through a recording proxy: how many log entries lost a race (412)
        rec = Recorder(int(store.server.host_port.rsplit(":", 1)[1]))
        options = {**options, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{rec.port}"}
    for scenario, jobs in (
        ("append x2", [("append", "A", 50), ("append", "B", 50)]),
        ("replace-by-predicate x2", [("replace", "A", 25), ("replace", "B", 25)]),
        ("append vs compact", [("append", "A", 40), ("compact", "C", 5)]),
    ):
        key = f"conc-{scenario.split()[0]}-{uuid.uuid4().hex[:6]}"
        url = store.url(key)
        seed = snapshot_table((20, 6), 0, tag="seed")
        write_deltalake(url, seed, partition_by=["snapshot_day"], storage_options=store.options(),
                        configuration=config(10))
        t0 = time.perf_counter()
        if rec:
            rec.log.clear()
        results = _run_writers(options, url, jobs)
        races = ""
        if rec:
            log_puts = [r for r in rec.log if r[0] == "PUT" and r[1].endswith(".json") and r[2] == "*"]
            races = (f", log-entry PUTs with If-None-Match {len(log_puts)} of which 412 "
                     f"{sum(r[3] == 412 for r in log_puts)}")
        wall = time.perf_counter() - t0 - 2.5
        table = open_table(store, key)
        counts = {}
        for sid in table.to_pyarrow_table(columns=["snapshot_id"]).column("snapshot_id").to_pylist():
            counts[sid] = counts.get(sid, 0) + 1
        written = [tag for r in results for tag in r["done"] if isinstance(tag, str)]
        lost = [tag for tag in written if tag not in counts]
        duplicated = [tag for tag, n in counts.items() if tag != "seed" and n != 20]
        errors = [e for r in results for e in r["errors"]]
        kinds = sorted({e.split(":")[0] for e in errors})
        history = table.history()
        ops = {}
        for h in history:
            ops[h.get("operation")] = ops.get(h.get("operation"), 0) + 1
        say(f"a2 {store.name} {scenario}: {len(written)} writes ok, {len(errors)} failed {kinds}, "
            f"version {table.version()}, ops {ops}, rows lost {len(lost)}, sets not 20 rows {len(duplicated)}, "
            f"seed rows {counts.get('seed')}, {wall:.1f} s{races}")
        for e in errors[:2]:
            say(f"     e.g. {e}")
    if rec:
        rec.server.shutdown()


# ---------------------------------------------------------------- b1: one table, a growing log

def b1_growth(store, commits: int) -> None:
    spec = (300, 15)
    marks = [m for m in (1, 100, 200, 500) if m <= commits]
    variants = [("append", 100, True), ("append", 10, True), ("append", None, False), ("replace", 10, True)]
    for mode, interval, checkpoints in variants:
        n = commits
        if store.name == "s3" and not checkpoints:
            n = min(commits, 200)  # grows linearly: 200 show the slope (500 would take minutes)
        key = f"grow-{mode}-{interval}-{uuid.uuid4().hex[:6]}"
        url = store.url(key)
        times = []
        t_all = time.perf_counter()
        for i in range(n):
            t = snapshot_table(spec, i)
            t0 = time.perf_counter()
            if i == 0:
                write_deltalake(url, t, partition_by=["snapshot_day"], storage_options=store.options(),
                                configuration=config(interval), post_commithook_properties=hook(checkpoints))
            elif mode == "append":
                write_deltalake(url, t, mode="append", storage_options=store.options(),
                                post_commithook_properties=hook(checkpoints))
            else:
                write_deltalake(url, t, mode="overwrite", predicate=f"snapshot_id = '{snapshot_of(i)[0]}'",
                                storage_options=store.options(), post_commithook_properties=hook(checkpoints))
            times.append(time.perf_counter() - t0)
        cells = []
        for m in marks:
            if m <= n:
                window = times[max(1, m - 10):m] or times[:1]
                cells.append(f"@{m}: {1000 * sum(window) / len(window):.0f} ms")
        label = f"checkpoint every {interval}" if checkpoints else "no checkpoints"
        say(f"b1 {store.name} {mode:7s} {label:20s} " + ", ".join(cells)
            + f" (mean of the 10 commits before; {n} commits in {time.perf_counter() - t_all:.0f} s)")


# ---------------------------------------------------------------- b2: a 40-table snapshot over a long history

def _bulk(store, key: str, spec, first: int, last: int) -> None:
    """Add snapshots first..last-1 to table `key` as files + one commit of add actions, then a checkpoint."""
    fs, root = store.filesystem()
    actions = []

    def put(i):
        sid, day = snapshot_of(i)
        t = snapshot_table(spec, i).drop_columns(["snapshot_day"])  # delta-rs keeps partition values in paths
        rel = f"snapshot_day={day}/part-bulk-{i:05d}-{uuid.uuid4()}.parquet"
        if store.name == "local":  # a local filesystem does not make parent folders on write
            fs.create_dir(f"{root}/{key}/snapshot_day={day}", recursive=True)
        pq.write_table(t, f"{root}/{key}/{rel}", filesystem=fs)
        size = fs.get_file_info(f"{root}/{key}/{rel}").size
        stats = {"numRecords": t.num_rows, "minValues": {"snapshot_id": sid}, "maxValues": {"snapshot_id": sid},
                 "nullCount": {"snapshot_id": 0}}
        return AddAction(rel, size, {"snapshot_day": day}, int(time.time() * 1000), True, json.dumps(stats))
    fs.create_dir(f"{root}/{key}", recursive=True)
    with ThreadPoolExecutor(8) as ex:
        actions = list(ex.map(put, range(first, last)))
    table = open_table(store, key)
    table.create_write_transaction(actions, mode="append", schema=table.schema(), partition_by=["snapshot_day"])
    open_table(store, key).create_checkpoint()


def _snapshot(store, spec_list, i: int, mode: str, threads: int = 1) -> float:
    sid = snapshot_of(i)[0]

    def one(k):
        t = snapshot_table(spec_list[k], i)
        if mode == "append":
            write_deltalake(store.url(f"t{k:02d}"), t, mode="append", storage_options=store.options())
        else:
            write_deltalake(store.url(f"t{k:02d}"), t, mode="overwrite", predicate=f"snapshot_id = '{sid}'",
                            storage_options=store.options())
    t0 = time.perf_counter()
    if threads == 1:
        for k in range(len(spec_list)):
            one(k)
    else:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(one, range(len(spec_list))))
    return time.perf_counter() - t0


def b2_snapshots(store, levels=(1, 100, 500)) -> None:
    spec_list = specs()
    for k, spec in enumerate(spec_list):  # snapshot 0: creates each table, checkpoint every 10 commits
        write_deltalake(store.url(f"t{k:02d}"), snapshot_table(spec, 0), partition_by=["snapshot_day"],
                        storage_options=store.options(), configuration=config(10))
    have, extra = 1, 10_000  # measured snapshots get ids far past the bulk history
    for level in levels:
        if level > have:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(2) as ex:
                list(ex.map(lambda k: _bulk(store, f"t{k:02d}", spec_list[k], have, level), range(TABLES)))
            say(f"b2 {store.name} built snapshots {have}..{level - 1} in bulk: {time.perf_counter() - t0:.0f} s")
            have = level
        append = _snapshot(store, spec_list, extra, "append")
        rerun = _snapshot(store, spec_list, extra, "replace")
        par = _snapshot(store, spec_list, extra + 1, "append", threads=4)
        extra += 2
        say(f"b2 {store.name} after {level:3d} snapshots: one snapshot of {TABLES} commits: append {append:.2f} s, "
            f"re-run as replace-by-predicate {rerun:.2f} s, append on 4 threads {par:.2f} s")


# ---------------------------------------------------------------- c, d: reading, compaction, vacuum

def s3_fsspec(filesystem):
    """pyarrow's S3 filesystem as an fsspec one for the s3:// protocol, to register in DuckDB (no s3fs/boto, no
    httpfs extension: DuckDB's read_parquet then reads s3:// URIs through pyarrow's S3 client)."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    class S3ViaArrow(ArrowFSWrapper):
        protocol = ("s3", "s3a")

        @classmethod
        def _strip_protocol(cls, path):
            return path.split("://", 1)[-1] if isinstance(path, str) else path
    return S3ViaArrow(filesystem)


def _open_views(store, con: duckdb.DuckDBPyConnection, how: str) -> list[str]:
    """Every table as a DuckDB view; returns each table's file list (for the stale-reader test)."""
    lists = []
    if how == "file_uris" and store.name == "s3":
        con.register_filesystem(s3_fsspec(store.filesystem()[0]))
    for k in range(TABLES):
        table = open_table(store, f"t{k:02d}")
        if how == "file_uris":
            uris = table.file_uris()
            lists.append(uris)
            files = ", ".join("'" + u.replace("'", "''") + "'" for u in uris)
            con.execute(f"CREATE OR REPLACE VIEW t{k:02d} AS SELECT * FROM read_parquet([{files}], "
                        "hive_partitioning = true, hive_types = {'snapshot_day': VARCHAR}, union_by_name = true)")
        else:
            con.register(f"t{k:02d}", table.to_pyarrow_dataset())
            lists.append(table.file_uris())
    return lists


def _query(con) -> int:
    union = " UNION ALL ".join(
        f"SELECT snapshot_day, count(*) AS n, count(DISTINCT snapshot_id) AS s FROM t{k:02d} GROUP BY 1"
        for k in range(TABLES))
    return con.execute(f"SELECT sum(n), max(s) FROM ({union})").fetchone()


def c_read(store, label: str) -> tuple[list, float]:
    ways = ["file_uris", "arrow"]
    out = None
    for how in ways:
        con = duckdb.connect()
        t0 = time.perf_counter()
        lists = _open_views(store, con, how)
        opened = time.perf_counter() - t0
        t1 = time.perf_counter()
        total, days = _query(con)
        queried = time.perf_counter() - t1
        t2 = time.perf_counter()
        _query(con)
        again = time.perf_counter() - t2
        files = sum(len(x) for x in lists)
        say(f"c  {store.name} {label}, {how}: open {TABLES} tables ({files} files) {opened:.2f} s, GROUP BY over "
            f"all {queried:.2f} s (again {again:.2f} s); {total} rows, max {days} snapshots a day")
        out = (lists, opened + queried)
        con.close()
    return out


def c_partition_columns(store) -> None:
    table = open_table(store, "t00")
    uri = table.file_uris()[-1]  # the last one is a real delta-rs write (b2's measured snapshots)
    fs, _ = store.filesystem()
    path = uri.removeprefix("s3://")
    names = pq.read_schema(path, filesystem=fs).names
    say(f"c  {store.name} a Parquet file delta-rs wrote: columns {names[:3]}...; snapshot_day inside: "
        f"{'snapshot_day' in names}; path {uri.split('/', 3)[-1][-80:]}")


def d_compact_vacuum(store, level: int) -> None:
    old_lists, _ = c_read(store, f"{level} snapshots, uncompacted")
    t0 = time.perf_counter()
    before = after = 0
    for k in range(TABLES):
        table = open_table(store, f"t{k:02d}")
        before += len(table.file_uris())
        table.optimize.compact()
        after += len(open_table(store, f"t{k:02d}").file_uris())
    compact_s = time.perf_counter() - t0
    say(f"d  {store.name} optimize.compact on {TABLES} tables: {compact_s:.1f} s, files {before} -> {after}")
    stale = old_lists[0]
    con = duckdb.connect()
    reader = _stale_read(con, store, stale)
    say(f"d  {store.name} a reader with t00's pre-compaction file list, after compact, before vacuum: {reader}")
    t0 = time.perf_counter()
    kept = sum(len(open_table(store, f"t{k:02d}").vacuum(retention_hours=1, dry_run=True,
                                                           enforce_retention_duration=False))
               for k in range(TABLES))
    deleted = 0
    for k in range(TABLES):
        deleted += len(open_table(store, f"t{k:02d}").vacuum(retention_hours=0, dry_run=False,
                                                             enforce_retention_duration=False))
    vac_s = time.perf_counter() - t0
    say(f"d  {store.name} vacuum: a 1 h retention would delete {kept} files now; retention 0 deleted {deleted} "
        f"in {vac_s:.1f} s")
    say(f"d  {store.name} the same stale reader after vacuum: {_stale_read(con, store, stale)}")
    con.close()
    c_read(store, f"{level} snapshots, compacted")


def _stale_read(con, store, uris: list[str]) -> str:
    try:
        if store.name == "local":
            files = ", ".join(f"'{u}'" for u in uris)
            n = con.execute(f"SELECT count(*) FROM read_parquet([{files}])").fetchone()[0]
        else:
            fs, _ = store.filesystem()
            import pyarrow.dataset as ds
            n = ds.dataset([u.removeprefix("s3://") for u in uris], filesystem=fs, format="parquet").count_rows()
        return f"reads {n} rows"
    except Exception as e:  # noqa: BLE001 (the finding)
        return f"fails: {type(e).__name__}: {str(e)[:140]}"


# ---------------------------------------------------------------- e: requests per commit

class Recorder:
    """A loopback proxy in front of SeaweedFS that records each request (method, path, If-None-Match)."""

    def __init__(self, upstream_port: int):
        self.log: list[tuple] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each answer waits ~40 ms on delayed ACKs

            def log_message(self, *args):
                pass

            def _any(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                r = conn.getresponse()
                data = r.read()
                rec.log.append((self.command, self.path.split("?")[0].rsplit("/", 1)[-1] or self.path,
                                self.headers.get("if-none-match"), r.status))
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()
            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def e_requests(server) -> None:
    rec = Recorder(int(server.host_port.rsplit(":", 1)[1]))
    options = {**server.storage_options(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{rec.port}"}
    keys = ["grow-fresh"]
    if server.filesystem().get_file_info(f"{server.bucket}/spike/b2/t00").type == pafs.FileType.Directory:
        keys.insert(0, "b2/t00")  # the 500-snapshot table of b2, when b2 ran
    for key in keys:
        url = server.url(f"spike/{key}")
        spec = specs()[0] if key == "b2/t00" else (300, 15)
        if key == "grow-fresh":
            write_deltalake(url, snapshot_table(spec, 0), partition_by=["snapshot_day"], storage_options=options)
        rec.log.clear()
        write_deltalake(url, snapshot_table(spec, 20_000), mode="append", storage_options=options)
        kinds = {}
        for method, _, inm, status in rec.log:
            k = f"{method}{' If-None-Match' if inm else ''} {status}"
            kinds[k] = kinds.get(k, 0) + 1
        say(f"e  s3 one append to {key}: {len(rec.log)} requests {kinds}")
        rec.log.clear()
        DeltaTable(url, storage_options=options).file_uris()
        say(f"e  s3 opening {key} (+ file_uris): {len(rec.log)} requests")
    rec.server.shutdown()


# ---------------------------------------------------------------- main

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="a,b1,b2,cd,e")
    ap.add_argument("--commits", type=int, default=500)
    ap.add_argument("--snapshots", type=int, default=500)
    args = ap.parse_args()
    only = set(args.only.split(","))
    levels = tuple(x for x in (1, 100, 500) if x < args.snapshots) + (args.snapshots,)
    tmp = Path(tempfile.mkdtemp(prefix="spike-delta-"))
    say(f"deltalake {__import__('deltalake').__version__}, duckdb {duckdb.__version__}, pyarrow {pa.__version__}")
    with seaweed(tmp / "sw") as server:
        stores = [Local(tmp / "local"), S3(server, "spike")]
        if "a" in only:
            a_if_none_match(server)
            for store in stores:
                a_concurrency(store)
        if "b1" in only:
            for store in stores:
                b1_growth(store, args.commits)
        if "b2" in only or "cd" in only:
            for store in stores:
                lake = Local(tmp / "local" / "b2") if store.name == "local" else S3(server, "spike/b2")
                lake.name = store.name
                b2_snapshots(lake, levels)
                if "cd" in only:
                    c_partition_columns(lake)
                    d_compact_vacuum(lake, levels[-1])
        if "e" in only:
            e_requests(server)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6]))
    else:
        sys.exit(main())
