"""Hostile API answers through whole snapshots: one target's answer is that target's problem, never the run's.

A scripted loopback server (real HTTP, tests/modelarts/scripted_server.py) plays the gateway: one project
answers a gzip bomb, or JSON nested 1,200 deep, or echoes our credentials in every form; its neighbours answer
normally. The CLI runs as a user runs it, in a subprocess whose peak RSS is measured by a launcher.
"""

import asyncio
import json
import logging
import subprocess
import traceback
from pathlib import Path

import duckdb

from clikit import POOLSCOPE, cli_env, run_with_peak_rss
from lakekit import flavor_doc, pool_doc, query_catalog
from modelarts.scripted_server import Received, Reply, ScriptedServer, deep_json, error_reply, gzip_bomb
from pipeline.config import load_config
from pipeline.modelarts import AkSkCredentials, ModelArtsClient, ModelArtsError
from pipeline.flow import run_snapshot
from secretkit import echoes, recoverable

AK, SK = "AKHOSTILE00000000001", "hostile-sk-0123456789abcdefghijklmnopq"
TOKEN = "ST/hostile+token=0123/456789abcdef+gh=="
MiB = 1 << 20
GOOD = "900d" + "0" * 28


def listing(*docs: dict) -> bytes:
    return json.dumps({"apiVersion": "v2", "kind": "PoolList", "items": list(docs)}).encode()


FLAVORS = json.dumps({"apiVersion": "v1", "kind": "ResourceFlavorList", "metadata": {},
                      "items": [flavor_doc("modelarts.vm.cpu.8u")]}).encode()
GOOD_POOLS = listing(pool_doc("pool-good-1", available={"modelarts.vm.cpu.8u": 2}),
                     pool_doc("pool-good-2", available={"modelarts.vm.cpu.8u": 1}))


# The other families' calls get empty answers of their own shape: these tests are about the pool listing.
EMPTY_ANSWERS = (("/metrics/runtime/pools", {"kind": "PoolMetricsList", "items": []}),
                 ("/monitor", {"metrics": []}), ("/nodes", {"kind": "NodeList", "items": []}),
                 ("/workloads", {"statistics": {"total": 0, "items": []}}), ("/events", {"kind": "EventList", "items": []}))


def gateway(answers: dict[str, Reply]):
    """Each project's listing as given; an empty answer to the other families' calls; the flavor catalog for any
    other path."""
    def script(req: Received) -> Reply:
        parts = req.path.split("/")
        if len(parts) == 4 and parts[1] == "v2" and parts[3] == "pools":
            return answers[parts[2]]
        for suffix, empty in EMPTY_ANSWERS:
            if req.path.endswith(suffix):
                return Reply(200, json.dumps(empty).encode())
        return Reply(200, FLAVORS)
    return script


def write_config(root: Path, url: str, projects, **fetch) -> Path:
    fetch = {"max_attempts": 2, "timeout_s": 60, "backoff_base_s": None, **fetch}
    fetch.pop("backoff_base_s")
    # every per-pool family on (off by default): their answers are landed and masked like the listings
    lines = ["storage: {root: ./data}", "fetch: " + json.dumps(fetch),
             "collect: {pool_nodes: true, workload_statistics: true, pool_events: true, pool_monitor: true}",
             "targets:"]
    lines += [f"  - {{region: cn-north-4, project_id: {p}, endpoint: '{url}'}}" for p in projects]
    path = root / "poolscope.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fetch_rows(db: Path) -> dict[str, list]:
    rows = query_catalog(db, "SELECT project_id, outcome, reason, http_status, error_code, error_msg FROM fetches "
                             "WHERE call = 'list_pools'")
    return {r[0]: r[1:] for r in rows}


def test_a_gzip_bomb_is_cut_short_and_its_neighbour_lands(tmp_path):
    """A listing of 255 KiB that inflates to 256 MiB: before, the CLI peaked at 3.4 GiB, landed it whole and called
    the run complete. Now: exit 3, the bomb is one error row with a small landed body, the neighbour's pools are
    in the catalog, and the CLI stays far under 1 GiB (~140 MiB, for a 512 MiB bomb too)."""
    bomb = "b0mb" + "0" * 28
    answers = {bomb: Reply(200, gzip_bomb(256 * MiB), {"Content-Encoding": "gzip"}), GOOD: Reply(200, GOOD_POOLS)}
    with ScriptedServer(gateway(answers)) as srv:
        write_config(tmp_path, srv.url, [bomb, GOOD])  # fetch.max_body_mb: the default, 64
        proc, peak_mib = run_with_peak_rss(["snapshot", "--config", "poolscope.yaml", "--no-progress"],
                                           cwd=tmp_path, env=cli_env(AK, SK))
        served = [r.path for r in srv.requests]
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert "body_too_large x1" in proc.stdout and "Traceback" not in proc.stderr
    assert served.count(f"/v2/{bomb}/pools") == 1  # not retried: the same server would send it again
    db = tmp_path / "data" / "inventory.duckdb"
    rows = fetch_rows(db)
    assert rows[bomb][:3] == ["error", "body_too_large", 200] and "64 MiB" in rows[bomb][4]
    assert rows[GOOD][:2] == ["ok", "ok"]
    assert query_catalog(db, "SELECT project_id, pool_id FROM pools ORDER BY 2") == [
        [GOOD, "pool-good-1"], [GOOD, "pool-good-2"]]
    landed = list((tmp_path / "data" / "lake" / "raw").rglob("*.body"))
    assert sum(p.stat().st_size for p in landed) < 1 * MiB  # the evidence only: the first 64 KiB
    assert not list((tmp_path / "data" / "lake").rglob("spool"))  # no spool folder left in the sealed set
    print(json.dumps({"bomb_inflated_mib": 256, "peak_rss_mib": round(peak_mib)}))
    assert peak_mib < 1024, peak_mib


def test_deep_nesting_takes_no_snapshot_down(tmp_path):
    """JSON nested 1,200 deep in a 200 and in a 400: before, RecursionError aborted the snapshot (exit 1, nothing
    committed). Now the 200 is landed as it came, the 400 is that call's error, and the neighbour is in the
    catalog."""
    deep_ok, deep_err = "dee9" + "0" * 28, "dee9e" + "0" * 27
    answers = {deep_ok: Reply(200, deep_json(1200)),
               deep_err: Reply(400, deep_json(1200, head=b'{"error_code": "X.1", "error_msg": ')),
               GOOD: Reply(200, GOOD_POOLS)}
    with ScriptedServer(gateway(answers)) as srv:
        write_config(tmp_path, srv.url, [deep_ok, deep_err, GOOD])
        proc, _ = run_with_peak_rss(["snapshot", "--config", "poolscope.yaml", "--no-progress"], cwd=tmp_path,
                                    env=cli_env(AK, SK))
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    db = tmp_path / "data" / "inventory.duckdb"
    rows = fetch_rows(db)
    assert rows[deep_ok][:2] == ["ok", "ok"]
    assert rows[deep_err][:4] == ["error", "http_400", 400, "400"]
    assert query_catalog(db, "SELECT count(*) FROM snapshots") == [[1]]
    assert query_catalog(db, f"SELECT count(*) FROM pools WHERE project_id = '{GOOD}'") == [[2]]
    (raw,) = (tmp_path / "data" / "lake" / "raw").glob("snapshot_id=*/*")
    calls = [json.loads(line) for line in (raw / "calls.jsonl").read_text().splitlines()]
    bodies = {c["target"]["project_id"]: c["body_file"] for c in calls if c["call"] == "list_pools"}
    assert (raw / bodies[deep_ok]).read_bytes() == deep_json(1200)  # kept byte for byte


def _texts(root: Path):
    for path in root.rglob("*"):
        if path.is_file() and path.suffix not in (".parquet", ".duckdb", ".wal"):
            yield str(path), path.read_bytes().decode("utf-8", "replace")


def _catalog_text(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        views = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
        return "\n".join(str(con.execute(f'SELECT * FROM "{v}"').fetchall()) for v in views)
    finally:
        con.close()


def test_secret_echoes_in_every_form_leak_nowhere(tmp_path, caplog):
    """A gateway echoing the AK, SK or security token lower-cased, upper-cased, percent-encoded, base64-encoded
    (either alphabet, any alignment, inside a longer string) or JSON-escaped, in 401/403 bodies, in a listing's
    pool text, and across the 1 MiB spill point of a large listing: no landed file, no table value, no log line
    and no exception text gives one back."""
    caplog.set_level(logging.DEBUG)
    secrets = (AK, SK, TOKEN)
    forms = [(s, e) for s in secrets for e in echoes(s)]
    answers: dict[str, Reply] = {}
    for i, (_, echo) in enumerate(forms):
        status, code = (401, "APIGW.0301") if i % 2 else (403, "APIGW.0302")
        answers[f"e{i:031d}"] = error_reply(status, code, f"Incorrect IAM authentication information: ak:{echo},end")
    # Ok listings echoing too: a small one, and one large enough to be spilled to disk, with an echo across
    # the 1 MiB point where the landing reads it in two chunks.
    echo_ok = "0e" + "0" * 30
    answers[echo_ok] = Reply(200, listing(pool_doc("pool-echo", labels={"who": " ".join(e for _, e in forms[:40])})))
    big = "b19" + "0" * 29
    head = b'{"apiVersion": "v2", "kind": "PoolList", "items": [{"metadata": {"name": "pool-big", "labels": {"x": "'
    echo = forms[5][1].encode()
    filler = b"y" * (MiB - len(head) - len(echo) // 2)
    answers[big] = Reply(200, head + filler + echo + b"y" * MiB + b'"}}}]}')
    answers[GOOD] = Reply(200, GOOD_POOLS)
    creds = AkSkCredentials(AK, SK, TOKEN)
    caught: list[ModelArtsError] = []
    with ScriptedServer(gateway(answers)) as srv:
        config = load_config(write_config(tmp_path, srv.url, list(answers), max_attempts=1))
        result = run_snapshot(config, credentials=creds)

        async def direct():  # the exceptions a library user would see
            async with ModelArtsClient(srv.url, creds, rate_limit=None, max_attempts=1) as c:
                for project in list(answers)[:: max(1, len(forms) // 60)]:
                    try:
                        await c.list_pools(project)
                    except ModelArtsError as exc:
                        caught.append(exc)

        asyncio.run(direct())
    assert result.status == "partial" and result.targets_failed == len(forms)
    assert {"APIGW.0301", "APIGW.0302"} <= set(result.errors_by_code)
    db = tmp_path / "data" / "inventory.duckdb"
    assert query_catalog(db, f"SELECT count(*) FROM pools WHERE project_id IN ('{GOOD}', '{echo_ok}', '{big}')") \
        == [[4]]
    texts = list(_texts(tmp_path / "data" / "lake"))
    assert any("calls.jsonl" in name for name, _ in texts) and any("responses.jsonl" in name for name, _ in texts)
    # and the flavor catalog, the IAM project list for the names (one region: one call), and the runtime
    # metrics of the three projects whose listing worked, and the nodes, the workload statistics and the events
    # of each of the four pools they listed (one call each), and their two ShowPoolMonitor calls (average, maximum);
    # the per-pool answers as lines of their family's pack (pipeline/land/landing.py), the others one file each
    assert sum(name.endswith(".body") for name, _ in texts) == len(answers) + 2 + 3
    packs = {name.rsplit("/", 1)[1]: text.count("\n") for name, text in texts if name.endswith(".pack")}
    assert packs == {"pool_nodes-0001.pack": 4, "workload_statistics-0001.pack": 4, "pool_events-0001.pack": 4,
                     "pool_monitor-0001.pack": 2 * 4}
    texts += [("catalog values", _catalog_text(db)), ("log", caplog.text)]
    texts += [(f"exception {i}", t) for i, exc in enumerate(caught)
              for t in (str(exc), repr(exc), exc.error_msg or "", "".join(traceback.format_exception(exc)))]
    assert len(caught) >= 20 and all("***" in exc.error_msg for exc in caught)
    leaks = [(where, secret) for where, text in texts for secret in secrets if recoverable(text, secret)]
    assert leaks == []


def test_an_unexpected_client_failure_is_one_fetch_row(tmp_path, monkeypatch):
    """The safety net: an exception no one planned for, while fetching one target, becomes that call's error row
    (reason client_error, message masked); the snapshot commits with its neighbour."""
    broken = "b4d" + "0" * 29
    original = ModelArtsClient.list_pools

    async def list_pools(self, project_id, **kw):
        if project_id == broken:
            raise RuntimeError(f"something unforeseen, with {SK.upper()} in its message")
        return await original(self, project_id, **kw)

    monkeypatch.setattr(ModelArtsClient, "list_pools", list_pools)
    with ScriptedServer(gateway({GOOD: Reply(200, GOOD_POOLS)})) as srv:
        config = load_config(write_config(tmp_path, srv.url, [broken, GOOD]))
        result = run_snapshot(config, credentials=AkSkCredentials(AK, SK))
    assert result.status == "partial" and result.targets_ok == 1 and result.pools == 2
    db = tmp_path / "data" / "inventory.duckdb"
    outcome, reason, status, code, msg = fetch_rows(db)[broken]
    assert (outcome, reason, status) == ("error", "client_error", None)
    assert msg.startswith("unexpected client failure: RuntimeError: something unforeseen") and "***" in msg
    assert not recoverable(msg, SK)


def test_deep_nesting_in_iam_discovery_takes_no_snapshot_down(tmp_path):
    """`/v3/projects` answering JSON nested 1,200 deep: before, RecursionError escaped discovery and aborted every
    snapshot. Now that answer yields no project (and is landed as it came); the configured target is fetched."""
    answers = {GOOD: Reply(200, GOOD_POOLS)}
    deep = deep_json(1200, head=b'{"projects":')
    base = gateway(answers)

    def script(req: Received) -> Reply:
        return Reply(200, deep) if req.path == "/v3/projects" else base(req)

    with ScriptedServer(script) as srv:
        path = write_config(tmp_path, srv.url, [GOOD])
        path.write_text(path.read_text() + f"discover: {{regions: [cn-north-4], iam_endpoint: '{srv.url}', "
                                           f"endpoint: '{srv.url}'}}\n")
        result = run_snapshot(load_config(path), credentials=AkSkCredentials(AK, SK))
    assert result.pools == 2 and result.targets_ok >= 1
    db = tmp_path / "data" / "inventory.duckdb"
    assert query_catalog(db, f"SELECT count(*) FROM pools WHERE project_id = '{GOOD}'") == [[2]]
    (raw,) = (tmp_path / "data" / "lake" / "raw").glob("snapshot_id=*/*")
    calls = [json.loads(line) for line in (raw / "calls.jsonl").read_text().splitlines()]
    (discovery,) = [c for c in calls if c["call"] == "list_projects"]
    assert (raw / discovery["body_file"]).read_bytes() == deep


def test_a_malformed_discovered_project_id_is_skipped_and_recorded(tmp_path):
    """IAM's `/v3/projects` listing a project id that cannot be one (`../../etc`, a control character) next to a
    real one: before, the Target model's validation raised out of discovery and every snapshot ended in a
    traceback. Now each bad id is one `list_projects` error row (reason invalid_project_id, the id escaped), the
    good discovered project is fetched, and the CLI says partial."""
    other = "d15c" + "0" * 28
    projects = {"projects": [
        {"id": "../../etc", "name": "cn-north-4", "enabled": True},
        {"id": "bad\nid", "name": "cn-north-4_sub", "enabled": True},
        {"id": other, "name": "cn-north-4_sub2", "enabled": True},
    ]}
    answers = {GOOD: Reply(200, GOOD_POOLS), other: Reply(200, listing(pool_doc("pool-disc-1")))}
    base = gateway(answers)

    def script(req: Received) -> Reply:
        return Reply(200, json.dumps(projects).encode()) if req.path == "/v3/projects" else base(req)

    with ScriptedServer(script) as srv:
        path = write_config(tmp_path, srv.url, [GOOD])
        path.write_text(path.read_text() + f"discover: {{regions: [cn-north-4], iam_endpoint: '{srv.url}', "
                                           f"endpoint: '{srv.url}'}}\n")
        proc = subprocess.run([*POOLSCOPE, "snapshot", "--config", str(path), "--no-progress"], cwd=tmp_path,
                              env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
        served = {r.path for r in srv.requests}
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "invalid_project_id x2" in proc.stdout
    assert not any("etc" in p for p in served)  # no call was made with the bad id
    db = tmp_path / "data" / "inventory.duckdb"
    assert query_catalog(db, "SELECT project_id, pool_id FROM pools ORDER BY 1, 2") == [
        [GOOD, "pool-good-1"], [GOOD, "pool-good-2"], [other, "pool-disc-1"]]
    rows = query_catalog(db, "SELECT outcome, reason, error_msg FROM fetches WHERE call = 'list_projects' "
                             "AND reason <> 'ok' ORDER BY error_msg")
    assert [r[:2] for r in rows] == [["error", "invalid_project_id"]] * 2
    assert "'../../etc'" in rows[0][2] and "'bad\\nid'" in rows[1][2], rows


def test_a_repeated_key_reads_its_last_value_like_the_sdk(tmp_path):
    """{"count": 1, "count": 5}: before, the catalog said 1 (DuckDB keeps the first); the SDK, Python and
    JavaScript read 5. Now the landing flags the body, the catalog reads 5 and holds a warning row for that pool;
    the snapshot is complete (a warning is not a rejection) and the landed bytes are the ones sent."""
    rep = "4e9e" + "0" * 28
    good = json.dumps(pool_doc("pool-fine", available={"modelarts.vm.cpu.8u": 2}))
    repeating = ('{"metadata":{"name":"pool-rep","name":"pool-rep"},"spec":{"type":"Dedicate","resources":'
                 '[{"flavor":"modelarts.vm.cpu.8u","count":1,"count":5}]},"status":{"phase":"Running"}}')
    body = ('{"apiVersion":"v2","kind":"PoolList","items":[' + good + "," + repeating + "]}").encode()
    with ScriptedServer(gateway({rep: Reply(200, body), GOOD: Reply(200, GOOD_POOLS)})) as srv:
        write_config(tmp_path, srv.url, [rep, GOOD])
        proc = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"],
                              cwd=tmp_path, env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    db = tmp_path / "data" / "inventory.duckdb"
    assert query_catalog(db, "SELECT pool_id, count FROM pool_resources WHERE project_id = '" + rep
                         + "' ORDER BY 1") == [["pool-fine", 2], ["pool-rep", 5]]
    assert query_catalog(db, "SELECT item_index, pool_id, severity, excerpt FROM rejected_documents") == [
        [1, "pool-rep", "warning", "repeated: count, name"]]
    assert query_catalog(db, "SELECT rejected_documents, status FROM snapshots") == [[0, "complete"]]
    (raw,) = (tmp_path / "data" / "lake" / "raw").glob("snapshot_id=*/*")
    calls = {c["target"]["project_id"]: c for c in map(json.loads, (raw / "calls.jsonl").read_text().splitlines())
             if c["call"] == "list_pools"}
    assert (calls[rep]["repeated_keys"], calls[GOOD]["repeated_keys"]) == (True, False)
    assert (raw / calls[rep]["body_file"]).read_bytes() == body


def test_a_bad_byte_and_a_nan_count_reject_only_their_documents(tmp_path):
    """One listing holds a pool whose description has a byte that is not UTF-8, a pool whose count is NaN, and a
    sound pool. Before: the bad byte made the whole listing truncated_json, retried and lost (and NaN was stored
    as a NULL count). Now the listing is one ok call, the sound pool is in the catalog, the two others are
    rejected_documents rows naming why, and the neighbour project is untouched."""
    mixed = "b4d0" + "0" * 28
    fine = json.dumps(pool_doc("pool-fine", available={"modelarts.vm.cpu.8u": 2}))
    utf8 = json.dumps(pool_doc("pool-utf8", annotations={"os.modelarts/description": "@@"})).replace("@@", "\udcff")
    nan = json.dumps(pool_doc("pool-nan", available={"modelarts.vm.cpu.8u": 7})).replace('"count": 7', '"count": NaN')
    body = ('{"apiVersion":"v2","kind":"PoolList","items":[' + ",".join([utf8, nan, fine]) + "]}").encode(
        "utf-8", "surrogateescape")  # U+DCFF: the lone byte 0xff
    assert b"\xff" in body and b'"count": NaN' in body
    with ScriptedServer(gateway({mixed: Reply(200, body), GOOD: Reply(200, GOOD_POOLS)})) as srv:
        write_config(tmp_path, srv.url, [mixed, GOOD])
        proc = subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml", "--no-progress"],
                              cwd=tmp_path, env=cli_env(AK, SK), capture_output=True, text=True, timeout=300)
        served = [r.path for r in srv.requests]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert served.count(f"/v2/{mixed}/pools") == 1  # read once: not taken for a cut body
    db = tmp_path / "data" / "inventory.duckdb"
    assert fetch_rows(db)[mixed][:3] == ["ok", "ok", 200]
    assert query_catalog(db, "SELECT project_id, pool_id FROM pools ORDER BY 1, 2") == [
        [GOOD, "pool-good-1"], [GOOD, "pool-good-2"], [mixed, "pool-fine"]]
    assert query_catalog(db, "SELECT item_index, pool_id, reason, severity FROM rejected_documents ORDER BY 1") == [
        [0, None, "item is not valid UTF-8 text", "error"],
        [1, "pool-nan", "invalid count at spec.resources[].count: not an integer in 0..2147483647",
         "error"]]
    assert query_catalog(db, "SELECT rejected_documents FROM snapshots") == [[2]]
    assert query_catalog(db, "SELECT count(*) FROM pool_capacity WHERE count IS NULL") == [[0]]
    assert proc.returncode == 0 and "rejected documents: 2" in proc.stdout  # complete: every target was read
