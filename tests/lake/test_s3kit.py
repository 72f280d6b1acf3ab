"""The SeaweedFS test server (tests/s3kit.py) is a real S3 endpoint: signed writes and reads round-trip, a wrong
secret and an unsigned request are refused, and stopping it frees its ports and ends its process."""

import os
import socket
import time

import pytest
from pyarrow import fs

from s3kit import seaweed


def _answers(endpoint_port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", endpoint_port), timeout=0.5):
            return True
    except OSError:
        return False


def test_signed_round_trip_wrong_secret_refused_and_stopped_by_pid(tmp_path):
    started = time.monotonic()
    with seaweed(tmp_path, bucket="lake-a") as s3:
        startup = time.monotonic() - started
        port = int(s3.host_port.rsplit(":", 1)[1])
        assert s3.access_key and s3.secret_key and s3.bucket == "lake-a"
        good = s3.filesystem()
        with good.open_output_stream("lake-a/raw/x.json") as out:
            out.write(b'{"pool": "a"}')
        with good.open_input_stream("lake-a/raw/x.json") as got:
            assert got.read() == b'{"pool": "a"}'
        assert [i.path for i in good.get_file_info(fs.FileSelector("lake-a/raw"))] == ["lake-a/raw/x.json"]

        bad = s3.filesystem(secret_key=s3.secret_key[:-1] + ("x" if s3.secret_key[-1] != "x" else "y"))
        with pytest.raises(OSError, match="ACCESS_DENIED|SIGNATURE_DOES_NOT_MATCH|AccessDenied"):
            bad.open_input_stream("lake-a/raw/x.json").read()
        with pytest.raises(OSError, match="ACCESS_DENIED|SIGNATURE_DOES_NOT_MATCH|AccessDenied"):
            with bad.open_output_stream("lake-a/raw/y.json") as out:
                out.write(b"no")
        anonymous = fs.S3FileSystem(anonymous=True, endpoint_override=s3.host_port, scheme="http", region=s3.region)
        with pytest.raises(OSError, match="ACCESS_DENIED|AccessDenied"):
            anonymous.open_input_stream("lake-a/raw/x.json").read()
        assert good.get_file_info("lake-a/raw/y.json").type == fs.FileType.NotFound
        pid = s3.pid
        assert _answers(port)
    assert not _answers(port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert startup < 15, f"weed mini took {startup:.1f} s to serve a bucket"


def test_two_servers_at_once_share_nothing(tmp_path):
    """What parallel pytest workers do: every port of each is its own, and so is its data."""
    with seaweed(tmp_path / "one") as one, seaweed(tmp_path / "two") as two:
        assert one.endpoint != two.endpoint and one.secret_key != two.secret_key
        with one.filesystem().open_output_stream("lake/only-in-one") as out:
            out.write(b"1")
        assert two.filesystem().get_file_info("lake/only-in-one").type == fs.FileType.NotFound
        assert one.filesystem().get_file_info("lake/only-in-one").size == 1
