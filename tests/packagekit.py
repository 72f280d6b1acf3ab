"""The package as it ships, built once per test run: the sdist, then the wheel built from that sdist (proving the
sdist holds what a wheel needs). tests/test_package.py installs it into a fresh venv as a user would;
tests/test_deploy.py installs it as deploy/Dockerfile's runtime stage does.

    from packagekit import built_package  # noqa: F401 -- the session fixture: .dist, .wheel, .sdist

Under pytest-xdist each worker has its own session, and modules that use the build may run on different workers:
the first worker to ask builds it into the run's shared temporary folder, under a lock; the others wait for it
and reuse it.
"""

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]


def uv() -> str:
    # As the Makefile's UV: uv from PATH, else the private copy `make install` bootstraps into .tools/.
    found = shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.fail("uv not found on PATH nor in .tools/bin: run `make install`")
    return found


def run(args: list[str], *, cwd: Path, env: dict | None = None, timeout: float = 300) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args[:3]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: no PYTHONPATH or virtualenv pointing into the repo, no cloud keys but the given ones.
    Bytecode is written (into the throwaway venv), as for a user: each later process then skips compiling."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")
           and not k.startswith(("HUAWEICLOUD_", "AWS_"))}
    env.update(extra)
    return env


def _build(dist: Path) -> None:
    run([uv(), "build", "--out-dir", str(dist), "--python", sys.executable, str(REPO)], cwd=dist.parent,
        env=user_env())


def _found(dist: Path) -> SimpleNamespace:
    (wheel,) = dist.glob("poolscope-*.whl")
    (sdist,) = dist.glob("poolscope-*.tar.gz")
    return SimpleNamespace(dist=dist, wheel=wheel, sdist=sdist)


@pytest.fixture(scope="session")
def built_package(tmp_path_factory, worker_id) -> SimpleNamespace:
    if worker_id == "master":  # no xdist: this process is the whole run
        base = tmp_path_factory.mktemp("package-build")
        _build(base / "dist")
        return _found(base / "dist")
    # The parent of a worker's base folder is the run's own, shared by its workers (and by no other run).
    base = tmp_path_factory.getbasetemp().parent / "package-build"
    base.mkdir(exist_ok=True)
    with open(base / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, also if this process dies
        if not (base / "built").exists():
            shutil.rmtree(base / "dist", ignore_errors=True)  # a build that failed half-way
            _build(base / "dist")
            (base / "built").touch()
    return _found(base / "dist")
