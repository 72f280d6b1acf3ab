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
