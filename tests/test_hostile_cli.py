"""Hostile config files and command lines through the real CLI (subprocesses): every one is refused with exit 2,
one line naming the file and the key, no traceback, and nothing created in the storage root.

Each case runs `snapshot`, `renormalize`, `report` and `compact`, each in its own folder. To keep this fast, one
subprocess runs them all through `pipeline.cli.main`, one after the other, as `python -m pipeline.cli` would (an
escaping exception becomes a traceback and exit 1); a few cases also run as four separate `python -m
pipeline.cli` processes, to show the two agree. Note that root
ignores file modes: a chmod-based "unreadable" or "read-only" case is only meaningful for another user, so as
root those cases use something that fails for root too (/proc/self/mem cannot be read from offset 0; /sys
refuses new folders), and skip when no such thing is at hand.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli import POOLSCOPE, cli_env

TARGETS = "targets: [{region: cn-north-4, project_id: p1, endpoint: 'http://127.0.0.1:9'}]\n"
# If a case were wrongly accepted, its snapshot fails fast (one attempt at a closed port) instead of retrying.
TARGET = TARGETS + "fetch: {max_attempts: 1, timeout_s: 2}\n"
ROOT = "storage: {root: ./data}\n"
GOOD = ROOT + TARGET
COMMANDS = {
    "snapshot": ["snapshot"],
    "renormalize": ["renormalize", "--all"],
    "report": ["report"],
    "compact": ["compact"],
}
CANARY = "CANARYSECRET0123456789"
IS_ROOT = os.geteuid() == 0


def _write(text: str | bytes):
    def setup(d: Path) -> str:
        p = d / "poolscope.yaml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return "poolscope.yaml"
    return setup


def _missing(d: Path) -> str:
    return "nope.yaml"


def _folder(d: Path) -> str:
    (d / "conf.yaml").mkdir()
    return "conf.yaml"


def _under_a_file(d: Path) -> str:
    (d / "etc").write_text("a file")
    return "etc/poolscope.yaml"


def _fifo(d: Path) -> str:
    os.mkfifo(d / "poolscope.yaml")
    return "poolscope.yaml"


def _unreadable(d: Path) -> str:
    if IS_ROOT:
        return "/proc/self/mem"  # a regular file (to stat) whose read fails, even for root: EIO
    p = d / "poolscope.yaml"
    p.write_text(GOOD)
    p.chmod(0)
    return "poolscope.yaml"


def _root_under_a_file(d: Path) -> str:
    (d / "plain").write_text("x")
    return _write("storage: {root: ./plain/data}\n" + TARGET)(d)


def _root_is_a_file(d: Path) -> str:
    (d / "plain").write_text("x")
    return _write("storage: {root: ./plain}\n" + TARGET)(d)


def _read_only_root(d: Path) -> str:
    if not IS_ROOT:
        (d / "ro").mkdir()
        (d / "ro").chmod(0o555)
        return _write("storage: {root: ./ro/data}\n" + TARGET)(d)
    probe = Path("/sys/poolscope-write-probe")
    try:
        probe.mkdir()
    except OSError:
        return _write(f"storage: {{root: {probe}/data}}\n" + TARGET)(d)
    probe.rmdir()
    pytest.skip("running as root and /sys accepts new folders: no read-only place to point at")


def _output_is_a_file(d: Path) -> str:
    (d / "plain").write_text("x")
    return _write(GOOD + "reports: {output: ./plain}\n")(d)


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return GOOD + "extra:\n" + "".join(f"  {line}\n" for line in lines)


# (case id, setup -> the --config argument, what stderr must say besides the file's name)
CASES = [
    ("missing file", _missing, "nope.yaml: no such config file"),
    ("a folder", _folder, "is a folder, not a config file"),
    ("under a regular file", _under_a_file, "no such config file"),
    ("empty file", _write(""), "the file is empty"),
    ("only a comment", _write("# nothing here\n"), "the file is empty"),
    ("bad YAML", _write("storage: {root: ./data}\n  oops: [\n"), "line 2"),
    ("not UTF-8", _write(b"storage: {root: \xff\xfe}\n"), "not UTF-8"),
    ("unreadable", _unreadable, "cannot read"),
    ("a FIFO", _fifo, "not a regular file"),
    ("python tag", _write("!!python/object/apply:os.system ['touch pwned']\n"), "line 1"),
    ("top level a list", _write("- storage\n- targets\n"), "top level must be a mapping"),
    ("unknown top-level key", _write(GOOD + "colour: red\n"), "colour: unknown key"),
    ("unknown nested key", _write("storage: {root: ./data, rooot: x}\n" + TARGET), "storage.rooot: unknown key"),
    ("duplicate key", _write(GOOD + "storage: {root: /elsewhere}\n"), "duplicate key 'storage'"),
    ("targets a mapping", _write("storage: {root: ./data}\ntargets: {region: cn-north-4}\n"), "targets:"),
    ("text for a number", _write(ROOT + TARGETS + "fetch: {concurrency: many}\n"), "fetch.concurrency:"),
    ("bool for a number", _write(ROOT + TARGETS + "fetch: {max_attempts: true}\n"), "fetch.max_attempts:"),
    ("text for a bool", _write(ROOT + TARGETS + "fetch: {verify_tls: 'no'}\n"), "fetch.verify_tls:"),
    ("number for an id", _write("storage: {root: ./data}\ntargets: [{region: cn-north-4, project_id: 12}]\n"),
     "targets[0].project_id:"),
    ("impossible date", _write(GOOD + "reports: {start_date: 2026-02-30}\n"), "reports.start_date:"),
    ("path traversal id", _write("storage: {root: ./data}\ntargets: [{region: cn-north-4, project_id: '../..'}]\n"),
     "targets[0].project_id:"),
    ("secret in the file", _write(GOOD + f"credentials: {{method: aksk, sk: {CANARY}}}\n"),
     "credentials.sk: credentials must not be written"),
    ("alias bomb", _write(_alias_bomb()), "more than 100000 entries"),
    ("recursive alias", _write("storage: &s {root: ./data, x: *s}\n" + TARGET), "recursive"),
    ("deep nesting", _write("storage: " + "[" * 1000 + "]" * 1000 + "\n"), "nested too deeply"),
    ("oversized file", _write(GOOD + "#" * (1 << 20) + "\n"), "larger than"),
    ("NUL in a path", _write('storage: {root: "./da\\0ta"}\n' + TARGET), "storage.root: must not contain a NUL"),
    ("unknown user home", _write("storage: {root: ~no-such-user-xyz/data}\n" + TARGET), "storage.root: cannot resolve"),
    ("root under a regular file", _root_under_a_file, "storage.root: cannot write to"),
    ("root is a regular file", _root_is_a_file, "storage.root:"),
    ("read-only root", _read_only_root, "storage.root: cannot write to"),
    ("root DuckDB cannot open", _write("storage: {root: './da?ta'}\n" + TARGET), "storage.root:"),
    ("root delta-rs cannot open", _write("storage: {root: './da[x]ta'}\n" + TARGET),
     "must not contain '[', ']' or a '%' followed by two hex digits"),
    ("root with a %XX escape", _write("storage: {root: './50%25off'}\n" + TARGET), "the Delta tables cannot be opened"),
    ("output is a file", _output_is_a_file, "reports.output:"),
    ("prices missing", _write(GOOD + "reports: {prices: ./prices.csv}\n"), "reports.prices: no such file"),
    ("ca bundle missing", _write(ROOT + TARGETS + "fetch: {max_attempts: 1, ca_bundle: ./ca.pem}\n"), "fetch.ca_bundle: no such file"),
]


# Runs each [cwd, argv] of json.loads(sys.argv[1]) through the CLI's main(); prints [[code, stdout, stderr], ...].
DRIVER = """
import contextlib, io, json, os, sys, traceback
from pipeline.cli import main
results = []
for cwd, argv in json.loads(sys.argv[1]):
    os.chdir(cwd)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append([code, out.getvalue(), err.getvalue()])
sys.stdout.write(json.dumps(results))
"""


def run_batch(runs: list[tuple[Path, list[str]]], env: dict) -> list[tuple[int, str, str]]:
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([[str(c), a] for c, a in runs])], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [tuple(r) for r in json.loads(proc.stdout)]


def run_separately(argvs: list[list[str]], cwd: Path, env: dict) -> list[tuple[int, str, str]]:
    procs = [subprocess.Popen([*POOLSCOPE, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for argv in argvs]
    return [(p.wait(60), *p.communicate()) for p in procs]


def check_refused(results, config: str, needle: str) -> None:
    file_name = Path(config).name
    for name, (code, out, err) in zip(COMMANDS, results):
        assert code == 2, (name, code, out, err)
        assert err.startswith("poolscope: ") and "Traceback" not in err, (name, err)
        assert file_name in err and needle in err, (name, err)
        assert CANARY not in err + out


def _argvs(config: str) -> list[list[str]]:
    return [[*argv, "--config", config] for argv in COMMANDS.values()]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """case id -> (its folder, the --config argument, the four commands' results), or the reason to skip."""
    setups, runs = {}, []
    for case, setup, _ in CASES:
        folder = tmp_path_factory.mktemp("hostile")
        try:
            config = setup(folder)
        except pytest.skip.Exception as exc:
            setups[case] = str(exc)
            continue
        setups[case] = (folder, config)
        runs += [(folder, argv) for argv in _argvs(config)]
    results = iter(run_batch(runs, cli_env(HUAWEICLOUD_SDK_SK=CANARY)))
    return {case: v if isinstance(v, str) else (*v, [next(results) for _ in COMMANDS]) for case, v in setups.items()}


@pytest.mark.parametrize(("case", "needle"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_config_exits_2_naming_file_and_key(refusals, case, needle):
    if isinstance(refusals[case], str):
        pytest.skip(refusals[case])
    folder, config, results = refusals[case]
    check_refused(results, config, needle)
    assert not (folder / "data").exists()  # refused before anything was created
    assert not (folder / "pwned").exists()


@pytest.mark.parametrize("case", ["duplicate key", "root under a regular file"])
def test_separate_cli_processes_agree(tmp_path, case):
    _, setup, needle = next(c for c in CASES if c[0] == case)
    config = setup(tmp_path)
    check_refused(run_separately(_argvs(config), tmp_path, cli_env(HUAWEICLOUD_SDK_SK=CANARY)), config, needle)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(("out", "needle"), [
    ("plain", "--out: plain is a file, not a folder"),
    ("plain/exports", "--out: cannot create the folder plain/exports"),
    ("bad\x00name", None),  # the OS refuses NUL in argv itself: nothing to run
])
def test_report_out_folder_that_cannot_be_used_exits_2(tmp_path, out, needle):
    (tmp_path / "plain").write_text("x")
    (tmp_path / "poolscope.yaml").write_text(GOOD)
    if needle is None:
        with pytest.raises(ValueError):
            subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--out", out], cwd=tmp_path)
        return
    proc = subprocess.run([*POOLSCOPE, "report", "--config", "poolscope.yaml", "--out", out], cwd=tmp_path,
                          env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert (tmp_path / "plain").read_text() == "x"


def test_bad_command_lines_exit_2_without_traceback(tmp_path):
    (tmp_path / "poolscope.yaml").write_text(GOOD)
    bad = [
        ["snapshot"],                                                     # --config missing
        ["snapshot", "--config", "poolscope.yaml", "--wait", "soon"],
        ["renormalize", "--config", "poolscope.yaml"],                    # --snapshot or --all required
        ["renormalize", "--config", "poolscope.yaml", "--snapshot", "../../etc"],
        ["report", "--config", "poolscope.yaml", "--from", "2026-02-30"],
        ["report", "--config", "poolscope.yaml", "--format", "pdf"],
        ["report", "--config", "poolscope.yaml", "--from", "2026-03-02", "--to", "2026-03-01"],
        ["compact", "--config", "poolscope.yaml", "--day", "../2026-01-01"],
        ["frobnicate"],
    ]
    for argv, (code, out, err) in zip(bad, run_batch([(tmp_path, argv) for argv in bad], cli_env())):
        assert code == 2, (argv, code, err)
        assert "Traceback" not in err and err.strip(), (argv, err)
