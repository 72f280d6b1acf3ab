"""A real PostgreSQL server for tests: Debian's `postgresql` binaries (`initdb`, `postgres`), a new cluster per
use, listening on a unix socket only (no TCP port at all; `tcp=True` adds a free port on 127.0.0.1, for a
dagster.yaml that names a host and a port as a deployment's does), with a password (SCRAM) and a database for
Dagster; stopped by its process group and its folder removed on exit.

    with postgres(tmp_path) as pg:         # or the `pg_server` fixture: `from pgkit import pg_server`
        home.joinpath("dagster.yaml").write_text(yaml.safe_dump({"storage": pg.dagster_yaml_storage()}))
        env = {**env, **pg.env()}          # the password reaches Dagster by an environment variable only

PostgreSQL refuses to run as root, and tests run as root in CI: there the cluster belongs to the unprivileged
`postgres` system user (the Debian package creates it; `nobody` where it is missing), and so it cannot live in
pytest's temporary folder, which only root may enter. Cluster and socket share one short folder made under
/tmp instead (a unix socket's path is limited to ~107 bytes; pytest's paths can be longer); the server's log
is written to `tmp_path` (opened by this process, so readable after a failure). Start to a usable database:
~1 s here (initdb ~0.6 s of it).

Where the binaries are missing, `require_postgres()` skips the test with a note, except under CI, where it fails
(`make test` installs them as root).
"""

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DB_NAME, USER = "dagster", "poolscope"
PASSWORD_ENV = "POOLSCOPE_TEST_PG_PASSWORD"
START_TIMEOUT = 30.0
# Durability is worthless for a test's throw-away cluster and its fsyncs are most of a small run's cost.
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "listen_addresses": "",
            "unix_socket_permissions": "0700"}


def bin_dir() -> Path | None:
    """The newest of Debian's /usr/lib/postgresql/<major>/bin holding `postgres` and `initdb`, else the folder of
    an `initdb` on PATH (other distributions and Homebrew put them there), else None."""
    found = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if re.fullmatch(r"\d+(\.\d+)?", d.parent.name) and (d / "postgres").exists() and (d / "initdb").exists():
            found.append((tuple(int(x) for x in d.parent.name.split(".")), d))
    if found:
        return max(found)[1]
    on_path = shutil.which("initdb")
    if on_path and Path(on_path).with_name("postgres").exists():
        return Path(on_path).parent
    return None


def require_postgres() -> Path:
    """The binaries' folder; the calling test is skipped where they are missing, or fails under CI."""
    found = bin_dir()
    if found is None:
        note = "PostgreSQL's server binaries are not installed (apt-get install -y postgresql; `make test` does it as root)"
        if os.environ.get("CI"):
            pytest.fail(f"{note}: required under CI")
        pytest.skip(note)
    return found


@dataclass(frozen=True)
class PgServer:
    socket_dir: Path    # libpq's `host` for a unix socket; the socket file is <socket_dir>/.s.PGSQL.<port>
    port: int
    db_name: str
    user: str
    pid: int
    log: Path
    password: str = field(repr=False)
    tcp_port: int | None = None  # the 127.0.0.1 port, when started with tcp=True

    def env(self) -> dict[str, str]:
        """What a process using `dagster_yaml_storage()` needs in its environment."""
        return {PASSWORD_ENV: self.password}

    def connect_kwargs(self) -> dict:
        """psycopg2.connect(**this) (the password included: keep it out of messages)."""
        return {"host": str(self.socket_dir), "port": self.port, "dbname": self.db_name, "user": self.user,
                "password": self.password}

    def dagster_yaml_storage(self) -> dict:
        """The value of dagster.yaml's `storage:` for this server: run, event log and schedule storage in one
        PostgreSQL database, the password taken from PASSWORD_ENV when the instance loads (never in the file).

        A socket folder cannot be dagster-postgres's `hostname`: it is pasted into a URL
        (`postgresql://user@<hostname>:<port>/<db>`), where the slashes of a path end the host and begin the
        database name. libpq's own `host` parameter takes it (`params` become the URL's query). The driver is
        named because SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which is not installed:
        dagster-postgres depends on psycopg2."""
        return {"postgres": {"postgres_db": {
            "username": self.user, "password": {"env": PASSWORD_ENV}, "hostname": "", "port": self.port,
            "db_name": self.db_name, "params": {"host": str(self.socket_dir)}, "scheme": "postgresql+psycopg2",
        }}}


def _server_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to run it as ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root with neither a `postgres` nor a `nobody` user to run PostgreSQL as")


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGQUIT to the server's process group: PostgreSQL's immediate shutdown (no checkpoint; the cluster is
    thrown away). Whatever is left after `grace` is killed."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a backend that outlived its postmaster
    except ProcessLookupError:
        pass
    proc.wait(grace)


def _wait_ready(proc: subprocess.Popen, server: PgServer, log: Path) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT
    kwargs = {**server.connect_kwargs(), "dbname": "postgres", "connect_timeout": 5}
    while True:
        try:
            con = psycopg2.connect(**kwargs)
            break
        except psycopg2.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"postgres did not start (exit {proc.poll()}); its log ends:\n{tail}") from None
            time.sleep(0.02)
    try:
        con.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with con.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{server.db_name}"')
    finally:
        con.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres(tmp_path: Path, port: int = 5432, *, tcp: bool = False) -> Iterator[PgServer]:
    """A running PostgreSQL with an empty database DB_NAME owned by USER (a superuser, password auth), reachable
    only through its socket folder; stopped and its folder removed on exit. The port only names the socket file
    (each server has its own folder), so the default one never meets another server.

    `tcp`: the server also listens on 127.0.0.1 (never another address), on a port that was free a moment
    before; the port names the socket file too. Another process can take that port in between: then the
    server cannot bind, and it is started again on another port (a few times)."""
    bindir = require_postgres()
    owner = _server_user()
    as_owner = {} if owner is None else {"user": owner[0], "group": owner[1], "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}  # nothing else inherited
    password = secrets.token_urlsafe(24)
    log = tmp_path / "postgres.log"
    tmp_path.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
    proc = None
    try:
        data, sock, pwfile = root / "data", root / "s", root / "pw"
        sock.mkdir(mode=0o700)
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        if owner is not None:
            for p in (root, sock, pwfile):
                os.chown(p, *owner)
        with open(log, "ab") as out:
            subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", USER, "--pwfile", str(pwfile),
                            "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync"],
                           check=True, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                           cwd=root, timeout=120, **as_owner)
        pwfile.unlink()
        settings = {**SETTINGS, "listen_addresses": "127.0.0.1"} if tcp else SETTINGS
        for attempt in range(5 if tcp else 1):
            if tcp:
                port = _free_port()
            args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock)]
            for key, value in settings.items():
                args += ["-c", f"{key}={value}"]
            logged = log.stat().st_size
            with open(log, "ab") as out:
                proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env, cwd=root, start_new_session=True, **as_owner)
            server = PgServer(sock, port, DB_NAME, USER, proc.pid, log, password, port if tcp else None)
            try:
                _wait_ready(proc, server, log)
                break
            except RuntimeError:
                with open(log, "rb") as fh:
                    fh.seek(logged)
                    lost_port = tcp and proc.poll() is not None and b"could not bind" in fh.read()
                _stop(proc)
                proc = None
                if not lost_port or attempt == 4:
                    raise
        yield server
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_server(tmp_path) -> Iterator[PgServer]:
    with postgres(tmp_path / "pg") as server:
        yield server
