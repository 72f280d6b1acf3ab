"""`poolscope sql`: the DuckDB shell on the catalog, read-only, with the tables listed on entry; `-c SQL` prints
one result for scripts.

The shell is the DuckDB CLI itself, from the `duckdb-cli` package (a binary inside the wheel): nothing to install
system-wide, and analysts get the shell they know (dot commands, completion, history). Its DuckDB release may
differ from the Python one that writes the catalog; the catalog's storage version (pipeline/catalog/views.py,
CATALOG_STORAGE_VERSION) is what lets both open it, and tests/catalog/test_old_duckdb.py queries every view
through this shell too.
"""

import argparse
import shlex
import shutil
import signal
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from pipeline.exitcodes import HelpFormatter, epilog

DEFAULT_CONFIG = "poolscope.yaml"
# The shell's output modes that have a command-line flag of their own (the default, duckbox, needs none).
MODES = ("box", "csv", "json", "jsonlines", "line", "list", "markdown", "table")
SQL_CODES = {
    2: "usage or configuration error, or no catalog yet (no snapshot committed under storage.root)",
    1: "the DuckDB shell is missing (the duckdb-cli package: reinstall poolscope)",
}
# The shell runs in the foreground: its exit code is ours (tests/test_exit_codes.py NOT_DERIVED).
SHELL_OTHER = "other  the exit code of the DuckDB shell (0, or 1 when a statement failed)"


def add_parsers(sub) -> None:
    s = sub.add_parser("sql", help="SQL on the catalog: an interactive read-only DuckDB shell, or -c for one query",
                       epilog=f"{epilog(SQL_CODES)}\n  {SHELL_OTHER}", formatter_class=HelpFormatter)
    s.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"poolscope.yaml (default ./{DEFAULT_CONFIG})")
    s.add_argument("-c", "--command", metavar="SQL",
                   help="run SQL, print its result (every row) and exit, instead of the interactive shell")
    s.add_argument("--mode", choices=MODES, help="output format (default: the shell's table boxes)")
    s.set_defaults(func=sql_command)


def _fail(message: str, code: int) -> int:
    print(f"poolscope: {message}", file=sys.stderr)
    return code


def shell_binary() -> Path | None:
    """The DuckDB CLI binary that the duckdb-cli wheel ships inside its package."""
    try:
        folder = files("duckdb_cli")
    except ModuleNotFoundError:
        return None
    path = Path(str(folder.joinpath("duckdb.exe" if sys.platform == "win32" else "duckdb")))
    return path if path.is_file() else None


def shell_command(catalog: Path, *, command: str | None = None, mode: str | None = None) -> list[str] | None:
    """The shell's command line on `catalog`, read-only (None when the shell is not installed)."""
    binary = shell_binary()
    if binary is None:
        return None
    argv = [str(binary), "-readonly"]
    if mode:
        argv.append(f"-{mode}")
    if command is not None:
        # Every row: the table boxes otherwise show 40 of them, and a script would read a cut result.
        argv += ["-cmd", ".maxrows -1", "-c", command]
    return [*argv, str(catalog)]


def _refresh_bucket_catalog(config) -> str | None:
    """For a lake in a bucket, the work folder's catalog file brought up to date first (its history, report
    partitions and table files fetched where missing): what the bucket holds now, whichever machine wrote it.
    Returns an error message, or None."""
    from pipeline.lake.commit import refresh_catalog
    from pipeline.lake.storage import StorageError
    from pipeline.lake.store import LakeBusyError, writer_lock

    layout = config.layout()
    try:
        with writer_lock(layout, wait_s=30.0):
            if layout.tables().open("snapshots") is not None:
                refresh_catalog(layout)
    except LakeBusyError:
        pass  # a run on this machine is rebuilding it; its catalog is the current one
    except (StorageError, OSError) as exc:
        return f"cannot read the lake at {layout.storage.describe()}: {exc}"
    return None


def sql_command(args: argparse.Namespace) -> int:
    from pipeline.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    if config.in_bucket:
        failed = _refresh_bucket_catalog(config)
        if failed:
            return _fail(failed, 1)
    catalog = config.layout().catalog
    if not catalog.is_file():
        return _fail(f"no catalog at {catalog} yet: no snapshot has been committed there "
                     f"(run: poolscope snapshot --config {args.config})", 2)
    argv = shell_command(catalog, command=args.command, mode=args.mode)
    if argv is None:
        return _fail("the DuckDB shell is not installed (package duckdb-cli, a dependency of poolscope): "
                     "reinstall poolscope", 1)
    if args.command is None and sys.stdin.isatty():
        print_tables(catalog)
    sys.stdout.flush()
    proc = subprocess.Popen(argv)
    # Ctrl-C belongs to the shell (it cancels the running query); this process only waits for it to end.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def print_tables(catalog: Path) -> None:
    """The catalog's tables in columns fitted to the terminal (as `ls` lists names), and where their
    documentation is."""
    import duckdb

    con = duckdb.connect(str(catalog), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal "
                                           "AND database_name = current_database() ORDER BY view_name").fetchall()]
    finally:
        con.close()
    width = shutil.get_terminal_size((100, 24)).columns
    cell = max((len(n) for n in names), default=0) + 2
    per_line = max(1, (width - 2) // cell)
    lines = -(-len(names) // per_line)  # column-major, like `ls`: read down, then across
    print(f"poolscope catalog, read-only: {catalog}")
    print(f"{len(names)} tables:")
    for i in range(lines):
        print("  " + "".join(n.ljust(cell) for n in names[i::lines]).rstrip())
    print("What each table and column holds: SELECT view_name, comment FROM duckdb_views() WHERE NOT internal;\n"
          "  DESCRIBE pools;   SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'pools';\n"
          "Try: SELECT * FROM current_pools LIMIT 5;   .help lists the shell's commands, .quit leaves")


def command_line(config_path: Path) -> str:
    """`poolscope sql --config FILE` as a person can type it here: poolscope as this process was started (the
    name on PATH when that is this program, else its path), FILE relative to the working folder when inside it."""
    return shlex.join([*_invocation(), "sql", "--config", _relative(config_path)])


def _invocation() -> list[str]:
    argv0 = Path(sys.argv[0])
    if argv0.name in ("cli.py", "__main__.py"):  # python -m pipeline.cli
        return [_relative(Path(sys.executable)), "-m", "pipeline.cli"]
    found = shutil.which(argv0.name)
    if found and Path(found).resolve() == argv0.resolve():
        return [argv0.name]
    return [_relative(argv0)]


def _relative(path: Path) -> str:
    try:
        relative = path.absolute().relative_to(Path.cwd())
    except ValueError:
        return str(path.absolute())
    return str(relative) if len(relative.parts) > 1 else f"./{relative}"  # a bare name would be looked up on PATH
