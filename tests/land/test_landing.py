"""Landing bodies the client spilled to disk: moved into the raw set without a copy, hashed, masked when a
secret form occurs in them (even split across the landing's read chunks), and no spool folder in a sealed set."""

import hashlib
import json
from datetime import datetime, timezone

from pipeline.land.landing import Attempt, RawLanding, TargetRef
from pipeline.lake.layout import Layout
from pipeline.modelarts.body import SpilledBody, spill

AK = "AKLANDING00000000001"
MiB = 1 << 20
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
REF = TargetRef("cn-north-4", "p1", "http://127.0.0.1:9")


def land(landing: RawLanding, *bodies) -> list[dict]:
    attempts = [Attempt(i + 1, NOW, 1.0, 200, "ok", None, None, b) for i, b in enumerate(bodies)]
    landing.record(call="list_pools", target=REF, pool_id=None, method="GET", path="/v2/p1/pools", query="",
                   outcome="ok", error_msg=None, attempts=attempts)
    landing._responses.flush()
    return [json.loads(line) for line in (landing.work / "responses.jsonl").read_text().splitlines()]


def test_a_spilled_body_is_moved_not_copied(tmp_path):
    landing = RawLanding(Layout(tmp_path), "20261101T000000Z", NOW, secrets=[AK])
    data = b'{"items": ["' + b"x" * (3 * MiB) + b'"]}'
    body = spill(data, landing.spool_dir)
    inode = body.path.stat().st_ino
    (line,) = land(landing, body)
    landed = landing.work / line["body_file"]
    assert landed.stat().st_ino == inode and landed.read_bytes() == data
    assert line["body_bytes"] == len(data) and line["body_sha256"] == hashlib.sha256(data).hexdigest()
    final = landing.seal({"targets": []})
    assert not (final / "spool").exists() and (final / line["body_file"]).read_bytes() == data


def test_a_spilled_body_with_a_secret_is_rewritten_masked(tmp_path):
    landing = RawLanding(Layout(tmp_path), "20261101T000000Z", NOW, secrets=[AK])
    # The AK, lower-cased, across the landing's 1 MiB read boundary; and once more near the end.
    head = b'{"items": ["'
    data = head + b"y" * (MiB - len(head) - 7) + AK.lower().encode() + b"y" * MiB + AK.encode() + b'"]}'
    body = spill(data, landing.spool_dir)
    (line,) = land(landing, body)
    landed = (landing.work / line["body_file"]).read_bytes()
    assert AK.lower().encode() not in landed.lower() and landed.count(b"***") == 2
    assert landed == data.replace(AK.lower().encode(), b"***").replace(AK.encode(), b"***")
    assert line["body_bytes"] == len(landed) and line["body_sha256"] == hashlib.sha256(landed).hexdigest()
    assert list(landing.spool_dir.iterdir()) == []  # the spool file was replaced by its masked copy


def test_a_spool_file_nobody_lands_goes_away_with_its_body(tmp_path):
    body = spill(b"{}" * 10, tmp_path)
    path = body.path
    assert isinstance(body, SpilledBody) and path.exists()
    del body
    assert not path.exists()


# Packs: the per-pool families' final answers share one file per family (pipeline/land/landing.py).

def _call(landing: RawLanding, call: str, pool: str, *bodies: bytes, outcome: str = "ok"):
    attempts = [Attempt(i + 1, NOW, 1.0, 200 if outcome == "ok" else 503, "ok", None, None, b)
                for i, b in enumerate(bodies)]
    return landing.record(call=call, target=REF, pool_id=pool, method="GET", path=f"/v2/p1/pools/{pool}/nodes",
                          query="", outcome=outcome, error_msg=None, attempts=attempts)


def test_per_pool_answers_are_packed_byte_for_byte_and_the_rest_keep_their_files(tmp_path):
    landing = RawLanding(Layout(tmp_path), "20261101T000000Z", NOW)
    plain = b'{"items": [{"metadata": {"name": "n1"}}]}'
    accented = '{"items": [{"metadata": {"name": "nœud-é"}}]}'.encode()
    pretty = b'{\n  "items": []\n}'
    latin1 = b'{"items": ["caf\xe9"]}'  # not UTF-8: a line of text cannot hold it
    a = _call(landing, "pool_nodes", "pool-a", plain)
    b = _call(landing, "pool_monitor", "pool-a", accented)
    c = _call(landing, "pool_nodes", "pool-b", pretty)
    d = _call(landing, "pool_nodes", "pool-c", latin1)
    e = _call(landing, "pool_nodes", "pool-d", b'{"error_code": "x"}', plain)  # a retry: only the final is packed
    f = _call(landing, "list_pools", "", plain)  # pool documents keep their files
    g = _call(landing, "pool_events", "pool-a", plain, outcome="error")  # an error keeps its file
    final = landing.seal({"targets": []})
    for rec, body in ((a, plain), (b, accented), (e, plain)):
        assert rec.body_file.endswith(".pack") and rec.body_bytes == len(body)
        with open(final / rec.body_file, "rb") as fh:
            fh.seek(rec.body_offset)
            assert fh.read(rec.body_bytes) == body
    assert a.body_file == e.body_file == "bodies/pool_nodes-0001.pack" != b.body_file
    lines = (final / a.body_file).read_bytes().splitlines()
    assert lines == [a.call_id.encode() + b" " + plain, e.call_id.encode() + b" " + plain]
    for rec, body in ((c, pretty), (d, latin1), (f, plain), (g, plain)):
        assert rec.body_offset is None and rec.body_bytes is None
        assert rec.body_file == f"bodies/{rec.call_id}-{rec.attempts}.body"
        assert (final / rec.body_file).read_bytes() == body
    assert (final / f"bodies/{e.call_id}-1.body").read_bytes() == b'{"error_code": "x"}'
    responses = [json.loads(x) for x in (final / "responses.jsonl").read_text().splitlines()]
    packed = [r for r in responses if r["body_file"].endswith(".pack")]
    assert [(r["call_id"], r["body_offset"], r["body_bytes"], r["body_sha256"]) for r in packed] == [
        (x.call_id, x.body_offset, len(body), hashlib.sha256(body).hexdigest())
        for x, body in ((a, plain), (b, accented), (e, plain))]


def test_a_packed_answer_is_masked_before_it_lands(tmp_path):
    landing = RawLanding(Layout(tmp_path), "20261101T000000Z", NOW, secrets=[AK])
    rec = _call(landing, "workload_statistics", "pool-a", b'{"message": "bad key ' + AK.encode() + b'"}')
    final = landing.seal({"targets": []})
    assert rec.body_file.endswith(".pack")
    data = (final / rec.body_file).read_bytes()
    assert AK.encode() not in data and data == rec.call_id.encode() + b' {"message": "bad key ***"}\n'


def test_a_full_pack_is_closed_and_the_next_one_opened(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.land.landing.PACK_MAX_BYTES", 100)
    landing = RawLanding(Layout(tmp_path), "20261101T000000Z", NOW)
    body = b'{"items": [' + b'"x",' * 10 + b'"y"]}'  # 56 bytes: two lines fill a pack
    recs = [_call(landing, "pool_nodes", f"pool-{i}", body) for i in range(5)]
    final = landing.seal({"targets": []})
    assert [r.body_file for r in recs] == ["bodies/pool_nodes-0001.pack"] * 2 + ["bodies/pool_nodes-0002.pack"] * 2 \
        + ["bodies/pool_nodes-0003.pack"]
    for rec in recs:
        with open(final / rec.body_file, "rb") as fh:
            fh.seek(rec.body_offset)
            assert fh.read(rec.body_bytes) == body
