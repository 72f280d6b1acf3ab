"""A full disk, for real: the storage root on a small tmpfs mounted for the test, filled with a ballast file to a
chosen free space, and the real CLI (a subprocess) against the simulator over HTTP.

- the disk fills up after the commit (the catalog rebuild): exit 5, one line naming the committed snapshot and
  the file that could not be written; the data is committed, the old catalog stays, nothing half-written is left;
- it fills up before the commit (landing): exit 4, one line, nothing committed (and `report` exits 4 too);
- below `storage.min_free_mb` at the start: exit 4, one line, nothing written; but a crashed run's debris is
  removed first, so debris alone never makes a run refuse.
Mounting needs root (CI runs as root); elsewhere the tests are skipped, and under CI=true they fail instead.
"""

import os
import re
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest

from clikit import POOLSCOPE, cli_env
from lakekit import query_catalog
from pipeline.lake.layout import Layout
from pipeline.lake.lease import LEASE_FILE, Lease, host_id, host_tag
from pipeline.lake.store import read_manifests
from pipeline.simulator import SimulatorConfig, run_simulator

AK, SK = "AKFULLDISKTEST000001", "full-disk-sk-0123456789abcdefghijklmnop"
KIB, MIB = 1024, 1024 * 1024


@pytest.fixture
def small_fs(tmp_path):
    """A real 8 MiB file system (tmpfs) at tmp_path/mnt, unmounted afterwards."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"mounting a tmpfs is required under CI=true (run as root): {proc.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill_to(mnt: Path, free: int) -> Path:
    """Leave `free` bytes free on the file system by writing a ballast file."""
    ballast = mnt / f"ballast-{time.monotonic_ns()}"
    with open(ballast, "wb") as fh:
        fh.write(b"\0" * (free_bytes(mnt) - free))
    assert abs(free_bytes(mnt) - free) <= 8 * KIB
    return ballast


def used_bytes(folder: Path) -> int:
    """Space the files under `folder` take (tmpfs allocates whole pages)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file()) + 4 * KIB * sum(
        1 for p in folder.rglob("*") if p.is_dir())


def snapshot(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*POOLSCOPE, "snapshot", "--config", "poolscope.yaml"], cwd=cwd,
                          env=cli_env(AK, SK, **env), capture_output=True, text=True, timeout=120)


def write_config(sim, tmp_path: Path, root: Path, min_free_mb: int) -> None:
    sim.write_config(tmp_path / "poolscope.yaml", storage_root=str(root))
    text = (tmp_path / "poolscope.yaml").read_text()
    (tmp_path / "poolscope.yaml").write_text(text.replace("storage:\n", f"storage:\n  min_free_mb: {min_free_mb}\n"))


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_disk_full_after_the_commit_exits_5_with_the_data_committed(tmp_path, small_fs):
    layout = Layout(small_fs / "data")
    # The Dagster instance on another disk: this test puts the moment the disk fills inside the catalog's write,
    # and the instance's own writes during the run would shift it. (On the full disk itself it is exit 4 at the
    # start: the next test.)
    snap = partial(snapshot, DAGSTER_HOME=str(tmp_path / "dagster"))
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=5, ak=AK, sk=SK)) as sim:
        write_config(sim, tmp_path, layout.root, min_free_mb=0)
        first = snap(tmp_path)
        assert first.returncode == 0, first.stderr
        # Room for a second snapshot's data (what the first one wrote besides the catalog), and half a catalog.
        catalog = layout.catalog.stat().st_blocks * 512
        data = used_bytes(layout.lake)
        ballast = fill_to(small_fs, data + catalog // 2)
        time.sleep(1.1)  # snapshot ids have one-second resolution
        second = snap(tmp_path)
        assert second.returncode == 5, (second.stdout, second.stderr)
        line = one_line(second.stderr)
        m = re.fullmatch(r"poolscope: snapshot (\d{8}T\d{6}Z) committed \(complete\); catalog not refreshed: "
                         r"no space left on device \((.+)\); the next run refreshes it", line)
        assert m, line
        sid = m.group(1)
        assert Path(m.group(2)).parent == layout.root  # the catalog file being written
        assert sid in {x.snapshot_id for x in read_manifests(layout)}  # committed
        # The old catalog is untouched (stale, not broken), and nothing half-written is left behind.
        assert {r[0] for r in query_catalog(layout.catalog, "SELECT snapshot_id FROM snapshots")} == {
            x.snapshot_id for x in read_manifests(layout)} - {sid}
        assert not list(layout.root.glob(".inventory.*")) and not list(layout.tmp.iterdir())
        ballast.unlink()
        time.sleep(1.1)
        third = snap(tmp_path)
        assert third.returncode == 0, third.stderr
    shown = {r[0] for r in query_catalog(layout.catalog, "SELECT snapshot_id FROM snapshots")}
    assert shown == {x.snapshot_id for x in read_manifests(layout)} and sid in shown and len(shown) == 3


def test_disk_full_before_the_commit_exits_4_with_nothing_committed(tmp_path, small_fs):
    layout = Layout(small_fs / "data")
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=5, ak=AK, sk=SK)) as sim:
        write_config(sim, tmp_path, layout.root, min_free_mb=0)
        assert snapshot(tmp_path).returncode == 0
        before = [m.snapshot_id for m in read_manifests(layout)]
        ballast = fill_to(small_fs, 12 * KIB)  # not even the landing fits
        time.sleep(1.1)
        full = snapshot(tmp_path)  # the Dagster instance too is on the full disk (the default)
        assert full.returncode == 4, (full.stdout, full.stderr)
        assert re.fullmatch(rf"poolscope: storage {re.escape(str(layout.root))}: no space left on device.*; "
                            r"nothing committed", one_line(full.stderr))
        assert [m.snapshot_id for m in read_manifests(layout)] == before
        assert [r[0] for r in query_catalog(layout.catalog, "SELECT snapshot_id FROM snapshots")] == before
        # `poolscope report` on the full disk: one line and its own code too.
        report = subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--out", str(small_fs / "out")],
                                cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert report.returncode == 4, (report.stdout, report.stderr)
        assert one_line(report.stderr).startswith("poolscope: storage full: no space left on device")
        ballast.unlink()
        time.sleep(1.1)
        again = snapshot(tmp_path)
        assert again.returncode == 0, again.stderr
    assert len(read_manifests(layout)) == 2
    assert not list(layout.tmp.iterdir())  # the failed run's debris went with the next run


def test_debris_is_cleaned_before_the_free_space_check(tmp_path, small_fs):
    layout = Layout(small_fs / "data")
    with run_simulator(SimulatorConfig(projects=2, pools_per_project=3, seed=5, ak=AK, sk=SK)) as sim:
        write_config(sim, tmp_path, layout.root, min_free_mb=2)
        assert snapshot(tmp_path).returncode == 0
        # What a killed run leaves: its working folder, holding 5 MiB of landed bodies, owned by a dead pid.
        dead = subprocess.Popen(["true"])
        dead.wait()
        debris = layout.tmp / f"raw-20261201T000000Z-deadbeef-h{host_tag()}-p{dead.pid}"
        (debris / "bodies").mkdir(parents=True)
        (debris / LEASE_FILE).write_bytes(Lease("here", host_id(), dead.pid, time.time()).encode())
        (debris / "bodies" / "000001-1.body").write_bytes(b"x" * 5 * MIB)
        ballast = fill_to(small_fs, 1 * MIB)  # below the 2 MiB minimum, until the debris is gone
        time.sleep(1.1)
        ok = snapshot(tmp_path)
        assert ok.returncode == 0, ok.stderr
        assert not debris.exists()
        # Below the minimum with nothing to clean: refused at once, in one line, with nothing written.
        ballast.unlink()
        fill_to(small_fs, MIB + 512 * KIB)
        raw_sets = sorted(p.name for p in layout.raw.iterdir())
        time.sleep(1.1)
        low = snapshot(tmp_path)
        assert low.returncode == 4, (low.stdout, low.stderr)
        assert re.fullmatch(rf"poolscope: storage {re.escape(str(layout.root))}: 1\.\d MiB free, below "
                            r"storage\.min_free_mb \(2 MiB\); nothing written\. Free some space, or lower "
                            r"storage\.min_free_mb", one_line(low.stderr))
        assert sorted(p.name for p in layout.raw.iterdir()) == raw_sets and len(read_manifests(layout)) == 2


def test_below_the_minimum_a_snapshot_refuses_to_start_cli_and_dagster(tmp_path, monkeypatch):
    """No mount needed: a minimum larger than any disk. Both entry points refuse before fetching anything."""
    import dagster as dg

    from pipeline.assets.resources import resources_for
    from pipeline.assets.snapshot import raw_snapshot

    layout = Layout(tmp_path / "data")
    (tmp_path / "poolscope.yaml").write_text(
        "storage: {root: ./data, min_free_mb: 1000000000}\n"
        "targets: [{region: cn-north-4, project_id: p1, endpoint: 'http://127.0.0.1:9'}]\n")
    low = snapshot(tmp_path)
    assert low.returncode == 4, (low.stdout, low.stderr)
    assert "MiB free, below storage.min_free_mb (1e+09 MiB); nothing written" in one_line(low.stderr)
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", AK)
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", SK)
    result = dg.materialize([raw_snapshot], resources=resources_for(str(tmp_path / "poolscope.yaml")),
                            raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure.cause.cls_name == "StorageFullError" and "below storage.min_free_mb" in failure.cause.message
    assert not list(layout.raw.iterdir()) and not list(layout.tmp.iterdir())
