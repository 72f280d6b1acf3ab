"""Leases: working folders and the writer lock carry host id + pid + heartbeat, which another host can judge.

The rules (pipeline/lake/lease.py): another host's lease is live while its heartbeat is younger than
LEASE_TIMEOUT_S; on this host, a lease is live while its pid runs (a dead pid is stale at once, however fresh
its heartbeat). The cross-host case is real in the last tests: a writer in another PID namespace (unshare, as
another container sees it), where pids mean nothing to us and ours nothing to it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clikit import POOLSCOPE, REPO, cli_env
from pipeline.lake.layout import Layout
from pipeline.lake.lease import (
    HEARTBEAT, LEASE_FILE, LEASE_TIMEOUT_S, Lease, host_id, host_tag, read_lease, release, work_dir,
)
from pipeline.lake.store import LakeBusyError, collect_garbage, writer_lock
from pipeline.simulator import SimulatorConfig, run_simulator

OTHER = "0123456789abcdef0123456789abcdef"  # another host's id
AK, SK = "AKLEASETEST000000001", "lease-test-sk-0123456789abcdefghijklmno"


def leased_folder(layout: Layout, name: str, lease: Lease) -> Path:
    folder = layout.tmp / name
    (folder / "bodies").mkdir(parents=True)
    (folder / LEASE_FILE).write_bytes(lease.encode())
    (folder / "bodies" / "000001-1.body").write_bytes(b"{}")
    return folder


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def gc(layout: Layout) -> dict:
    with writer_lock(layout):
        return collect_garbage(layout, grace_s=0)


def test_another_hosts_fresh_lease_is_kept_and_a_stale_one_removed(tmp_path):
    layout = Layout(tmp_path)
    layout.ensure()
    now = time.time()
    # The pid is one that is dead here: on another host it means nothing to us, only the heartbeat counts.
    fresh = leased_folder(layout, f"raw-20261201T000000Z-aaaaaaaa-h{OTHER[:12]}-p{dead_pid()}",
                          Lease("elsewhere", OTHER, dead_pid(), now - LEASE_TIMEOUT_S + 30))
    stale = leased_folder(layout, f"raw-20261201T010000Z-bbbbbbbb-h{OTHER[:12]}-p{os.getpid()}",
                          Lease("elsewhere", OTHER, os.getpid(), now - LEASE_TIMEOUT_S - 1))
    assert gc(layout)["tmp"] == 1
    assert fresh.is_dir() and not stale.exists()


def test_a_dead_local_pid_is_stale_at_once_and_a_live_one_kept(tmp_path):
    layout = Layout(tmp_path)
    layout.ensure()
    now = time.time()
    dead = leased_folder(layout, f"tables-20261201T000000Z-cccccccc-h{host_tag()}-p1",
                         Lease("here", host_id(), dead_pid(), now))  # the heartbeat is fresh: no matter
    live = leased_folder(layout, f"tables-20261201T010000Z-dddddddd-h{host_tag()}-p1",
                         Lease("here", host_id(), os.getppid(), now - 10 * LEASE_TIMEOUT_S))
    # No lease yet (a folder being created) or no more: judged by its name; another host's by its age.
    unleased_dead = layout.tmp / f"raw-20261201T020000Z-eeeeeeee-h{host_tag()}-p{dead_pid()}"
    unleased_remote = layout.tmp / f"raw-20261201T030000Z-ffffffff-h{OTHER[:12]}-p1"
    unleased_dead.mkdir()
    unleased_remote.mkdir()
    assert gc(layout)["tmp"] == 2
    assert not dead.exists() and live.is_dir() and not unleased_dead.exists() and unleased_remote.is_dir()
    old = time.time() - LEASE_TIMEOUT_S - 1
    os.utime(unleased_remote, (old, old))
    assert gc(layout)["tmp"] == 1 and not unleased_remote.exists()


def test_our_own_folder_lives_while_we_hold_it_and_the_heartbeat_refreshes_it(tmp_path):
    layout = Layout(tmp_path)
    layout.ensure()
    HEARTBEAT.set_interval(0.05)
    try:
        folder = work_dir(layout.tmp, "raw-20261201T000000Z-12345678")
        assert folder.name.endswith(f"-h{host_tag()}-p{os.getpid()}")
        first = read_lease(folder / LEASE_FILE)
        assert (first.host_id, first.pid) == (host_id(), os.getpid())
        deadline = time.monotonic() + 20
        while read_lease(folder / LEASE_FILE).heartbeat_at == first.heartbeat_at:
            assert time.monotonic() < deadline, "the heartbeat never refreshed the lease"
            time.sleep(0.02)
        assert gc(layout)["tmp"] == 0 and folder.is_dir()
        release(folder)
        assert not (folder / LEASE_FILE).exists()
        assert gc(layout)["tmp"] == 1 and not folder.exists()  # ours, released: debris of a failed step
    finally:
        HEARTBEAT.set_interval(10.0)


def test_the_lock_file_holds_a_lease_and_another_hosts_fresh_lease_counts_as_held(tmp_path):
    layout = Layout(tmp_path)
    with writer_lock(layout):
        lease = Lease.decode(layout.lock.read_bytes())
        assert (lease.host_id, lease.pid) == (host_id(), os.getpid())
    assert Lease.decode(layout.lock.read_bytes()) is None  # a finished writer leaves no lease
    # A writer on another host, whose flock this kernel cannot see: its fresh lease keeps us out.
    layout.lock.write_bytes(Lease("elsewhere", OTHER, 4242, time.time()).encode())
    with pytest.raises(LakeBusyError, match=r"\(host elsewhere, pid 4242\) is writing to"):
        with writer_lock(layout, wait_s=0.3):
            pass
    # Once its heartbeat is older than the timeout (a crashed host), the lock is taken over.
    layout.lock.write_bytes(Lease("elsewhere", OTHER, 4242, time.time() - LEASE_TIMEOUT_S - 1).encode())
    with writer_lock(layout, wait_s=0):
        assert Lease.decode(layout.lock.read_bytes()).pid == os.getpid()


LANDER = """
import sys
from datetime import datetime, timezone
from pathlib import Path
from pipeline.land.landing import Attempt, RawLanding, TargetRef
from pipeline.lake.layout import Layout

at = datetime(2026, 12, 1, tzinfo=timezone.utc)
landing = RawLanding(Layout(Path(sys.argv[1])), "20261201T000000Z", at)
landing.record(call="list_pools", target=TargetRef("cn-north-4", "p1", "http://127.0.0.1:9"), pool_id=None,
               method="GET", path="/v2/p1/pools", query="", outcome="ok", error_msg=None,
               attempts=[Attempt(1, at, 5.0, 200, "ok", None, "r" * 32, b'{"items": []}')])
print(landing.work, flush=True)
sys.stdin.readline()  # the test lets another writer run meanwhile
print(landing.seal({"targets": []}), flush=True)
"""


def in_another_pid_namespace(args: list[str]) -> list[str]:
    """`args` run as another container would: its own PID namespace and hostname."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "--uts", "true"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"unshare is required under CI=true (run as root): {probe.stderr.strip()}")
        pytest.skip(f"cannot create a PID namespace here (needs root): {probe.stderr.strip()}")
    return ["unshare", "--pid", "--fork", "--mount-proc", "--uts", "sh", "-c",
            'hostname other-container && exec "$@"', "sh", *args]


@pytest.mark.parametrize("where", ["this host", "another container"])
def test_a_live_landing_survives_another_writers_cleanup(tmp_path, where):
    """A lands without the lock (as Dagster's raw_snapshot does); meanwhile another process cleans the lake:
    a garbage collection here, or a whole `poolscope snapshot` in another PID namespace (which cannot see A's
    pid). A's working folder survives, and A seals its raw set whole."""
    root = tmp_path / "data"
    lander = subprocess.Popen([sys.executable, "-c", LANDER, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO)
    try:
        work = Path(lander.stdout.readline().strip())
        assert work.is_dir()
        if where == "this host":
            code = ("import sys; from pathlib import Path; from pipeline.lake.layout import Layout; "
                    "from pipeline.lake.store import collect_garbage, writer_lock; l = Layout(Path(sys.argv[1]))\n"
                    "with writer_lock(l): print(collect_garbage(l, grace_s=0))")
            other = subprocess.run([sys.executable, "-c", code, str(root)], env=cli_env(), capture_output=True,
                                   text=True, timeout=60)
            assert other.returncode == 0, other.stderr
        else:
            with run_simulator(SimulatorConfig(projects=2, pools_per_project=2, seed=3, ak=AK, sk=SK)) as sim:
                sim.write_config(tmp_path / "poolscope.yaml", storage_root=str(root))
                other = subprocess.run(in_another_pid_namespace([*POOLSCOPE, "snapshot", "--config",
                                                                 str(tmp_path / "poolscope.yaml")]),
                                       env=cli_env(AK, SK), capture_output=True, text=True, timeout=120)
            assert other.returncode == 0, other.stderr
        assert work.is_dir() and (work / "calls.jsonl").is_file(), f"{where} removed a live writer's folder"
        lander.stdin.write("\n")
        lander.stdin.flush()
        sealed = Path(lander.stdout.readline().strip())
        assert lander.wait(30) == 0
    finally:
        if lander.poll() is None:
            lander.kill()
            lander.wait(10)
    assert (sealed / "calls.jsonl").read_text().count("\n") == 1 and len(list((sealed / "bodies").iterdir())) == 1
    assert not (sealed / LEASE_FILE).exists()  # the lease stays out of the sealed set
