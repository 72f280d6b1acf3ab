"""`poolscope snapshot`, `renormalize`, `report`, `history`, `compact` and `migrate`: thin wrappers that turn results into
exit codes.

Exit codes: 0 complete, 3 partial (some targets failed), 1 failed (none succeeded, or a fatal error),
2 usage or configuration error, 4 storage full (below storage.min_free_mb at the start, or the disk filled up
before the commit: nothing committed), 5 committed, but the catalog was not refreshed (the disk filled up after
the commit; the next run refreshes it). Expected failures print one clear line, never a traceback.
"""

import argparse
import os
import sys
from collections import Counter
from datetime import date
from pathlib import Path

from pipeline.config import Config, ConfigError, load_config
from pipeline.exitcodes import HelpFormatter, epilog
from pipeline.lake.layout import LakeFormatError
from pipeline.lake.store import LakeBusyError
from pipeline.modelarts import CredentialsError


EXIT_STORAGE_FULL = 4
EXIT_CATALOG_STALE = 5
_USAGE = "usage or configuration error (the file and the key are named)"
_BUSY = "another process is writing to the storage root, or a storage error"
_BUSY_WAIT = "another process is writing to the storage root (and --wait ran out), or a storage error"
# Each command's exit codes, as its --help lists them (tests/test_exit_codes.py compares them with the codes each
# command function can return).
SNAPSHOT_CODES = {
    0: "complete",
    3: "partial: some targets failed (their errors are in the fetches table)",
    1: "failed: no target succeeded, a blocking data check failed, another process is writing (and --wait ran "
       "out), or a storage error",
    2: _USAGE,
    EXIT_STORAGE_FULL: "storage full: below storage.min_free_mb at the start, or the disk filled up before the "
                       "commit; nothing was committed",
    EXIT_CATALOG_STALE: "committed, but the catalog was not refreshed (e.g. the disk filled up after the commit); "
                        "the data is safe and the next run refreshes the catalog",
}
RENORMALIZE_CODES = {0: "done", 1: _BUSY, 2: f"{_USAGE}, or no committed snapshot with that id"}
REPORT_CODES = {
    0: "the reports were written",
    1: _BUSY,
    2: f"{_USAGE}: also an unknown --format, --from after --to, an unusable --out, or no snapshot to report on",
    EXIT_STORAGE_FULL: "storage full: the reports were not (all) written",
}
HISTORY_CODES = {0: "the history is up to date", 1: _BUSY_WAIT, 2: f"{_USAGE}, or the storage root is not writable"}
COMPACT_CODES = {
    0: "done (also when every day was compact already)",
    1: f"{_BUSY_WAIT}, or a day's rewrite did not match its sources (nothing of that day replaced)",
    2: f"{_USAGE}, or the storage root is not writable",
}
MIGRATE_CODES = {
    0: "migrated, and every table shows the same rows per snapshot in both lakes",
    1: "a table or snapshot differs between the lakes (each difference is listed), or a storage error",
    2: f"{_USAGE}: also a --to that is the old root, or a bucket without its region or credentials",
}
SNAPSHOT_EXIT_CODES = epilog(SNAPSHOT_CODES)


def add_parsers(sub) -> None:
    p = sub.add_parser("snapshot", help="take one snapshot of every configured target", epilog=SNAPSHOT_EXIT_CODES,
                       formatter_class=HelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another running snapshot to finish (default: fail at once)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    p.add_argument("--region", metavar="REGION",
                   help="take only this region's part of the snapshot (its targets and discovery); other regions' "
                        "parts of the same snapshot time stay as they are")
    p.set_defaults(func=snapshot_command)

    fmt = HelpFormatter
    r = sub.add_parser("renormalize", help="rebuild tables from the raw landing", epilog=epilog(RENORMALIZE_CODES),
                       formatter_class=fmt)
    r.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml")
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--snapshot", action="append", metavar="ID", help="snapshot id (repeatable)")
    g.add_argument("--all", action="store_true", help="every committed snapshot")
    r.set_defaults(func=renormalize_command)

    e = sub.add_parser("report", help="export the reports (capacity, billing, subscriptions, changes) for a range",
                       epilog=epilog(REPORT_CODES), formatter_class=fmt)
    e.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml")
    e.add_argument("--from", dest="from_day", type=_day, metavar="DAY", help="first day, YYYY-MM-DD (UTC)")
    e.add_argument("--to", dest="to_day", type=_day, metavar="DAY",
                   help="last day, inclusive (default: the latest snapshot's day)")
    e.add_argument("--format", default="xlsx,csv,html", help="comma-separated: xlsx, csv, html (default all)")
    e.add_argument("--out", type=Path, metavar="DIR", help="output folder (default reports.output or <root>/exports)")
    e.set_defaults(func=report_command)

    h = sub.add_parser("history", help="bring pool_changes and pool_versions up to date with the snapshots",
                       epilog=epilog(HISTORY_CODES), formatter_class=fmt)
    h.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml")
    h.add_argument("--rebuild", action="store_true",
                   help="recompute the whole history from every snapshot instead of folding in the new ones")
    h.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a running snapshot to finish (default: fail at once)")
    h.set_defaults(func=history_command)

    c = sub.add_parser("compact", help="rewrite each day's snapshot files as one file per table and day",
                       epilog=epilog(COMPACT_CODES), formatter_class=fmt)
    c.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml")
    c.add_argument("--day", action="append", type=_day, metavar="DAY",
                   help="compact this UTC day, YYYY-MM-DD (repeatable; default: every day before the latest "
                        "snapshot's day)")
    c.add_argument("--include-latest", action="store_true",
                   help="also compact the latest snapshot's day (it is rewritten again when more snapshots come)")
    c.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for a running snapshot to finish (default: fail at once)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    c.set_defaults(func=compact_command)

    m = sub.add_parser("migrate", help="copy the lake into Delta Lake tables at a new root (a folder or "
                                       "s3://bucket/prefix), raw sets included, and check it row for row",
                       epilog=epilog(MIGRATE_CODES), formatter_class=fmt)
    m.add_argument("--config", required=True, metavar="FILE", help="poolscope.yaml of the lake to copy")
    m.add_argument("--to", required=True, metavar="ROOT",
                   help="the new root: a folder, or s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID, "
                        "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)")
    m.add_argument("--endpoint", metavar="URL", help="S3 endpoint (default: AWS_ENDPOINT_URL, else AWS's); "
                                                     "plain http only on loopback")
    m.add_argument("--region", help="S3 region (default: AWS_REGION)")
    m.add_argument("--virtual-hosted", action="store_true",
                   help="address the bucket as a host name (default: path style, which OBS and MinIO take)")
    m.add_argument("--no-raw", action="store_true", help="leave the raw sets where they are")
    m.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    m.set_defaults(func=migrate_command)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None


def _fail(message: str, code: int) -> int:
    print(f"poolscope: {message}", file=sys.stderr)
    return code


def _os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def load_usable_config(path: str) -> Config:
    return check_storage(load_config(path))


def check_storage(config: Config) -> Config:
    """The storage root made ready: created if missing and proven writable (a file, a read-only mount or a
    path under a regular file is a configuration error, named as such, before any work)."""
    from pipeline.lake.storage import StorageError

    try:
        layout = config.layout()
        if layout.in_bucket:
            _probe_bucket(layout)
    except StorageError as exc:
        raise ConfigError(f"{config.path}: {exc}") from None
    try:
        layout.ensure()
        probe = layout.tmp / f".write-probe-p{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink(missing_ok=True)
    except LakeFormatError as exc:
        raise ConfigError(f"{config.path}: storage.root: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{config.path}: storage.root: cannot write to {config.root}: {_os_reason(exc)}") from None
    return config


def _probe_bucket(layout) -> None:
    """A bucket lake's bucket answers with these credentials (one listing), before any work; StorageError names
    what is wrong without a credential."""
    from pipeline.lake.storage import StorageError

    storage = layout.storage
    try:
        storage.filesystem().get_file_info(storage.fs_path("lake"))
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StorageError(f"storage.root: cannot read {storage.describe()}: {reason}") from None


def _out_dir(config: Config, out: Path | None) -> Path:
    """The export folder, created if missing; a ConfigError naming `--out` or `reports.output` if unusable."""
    from pipeline.reports.files import prepare_dir

    where = "--out" if out is not None else f"{config.path}: " + ("reports.output" if config.reports.output
                                                                   else "storage.root (exports)")
    folder = out if out is not None else config.exports_dir
    try:
        return prepare_dir(folder)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except FileExistsError:
        raise ConfigError(f"{where}: {folder} is a file, not a folder") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot create the folder {folder}: {_os_reason(exc)}") from None


def snapshot_command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        from pipeline.flow import run_snapshot  # heavy: after the cheap checks
        from pipeline.land.step import load_credentials

        credentials = load_credentials(config)
        check_storage(config)
        if args.region is not None:
            config.for_region(args.region)
    except (ConfigError, CredentialsError) as exc:
        return _fail(str(exc), 2)
    show = sys.stderr.isatty() and not args.no_progress
    progress = _Progress(show)
    from pipeline.lake.space import StorageFullError
    from pipeline.lake.commit import CatalogNotRefreshed

    try:
        result = run_snapshot(config, credentials=credentials, on_call=progress.call, on_plan=progress.plan,
                              lock_wait_s=args.wait, region=args.region)
    except LakeBusyError as exc:
        return _fail(str(exc), 1)
    except StorageFullError as exc:
        return _fail(str(exc), EXIT_STORAGE_FULL)
    except CatalogNotRefreshed as exc:
        return _fail(str(exc), EXIT_CATALOG_STALE)
    except OSError as exc:
        return _fail(f"storage {config.root}: {_os_reason(exc)}", 2 if isinstance(exc, PermissionError) else 1)
    finally:
        progress.close()
    print(f"snapshot {result.snapshot_id}: {result.status}")
    print(f"  targets: {result.targets_ok} ok, {result.targets_failed} failed (of {result.targets})")
    print(f"  pools: {result.pools}; rejected documents: {result.rejected}")
    for line in pace_lines(result.rates):
        print(f"  {line}")
    if result.errors_by_code:
        codes = ", ".join(f"{code} x{n}" for code, n in result.errors_by_code.items())
        print(f"  errors by code: {codes}")
    if result.blocked_by:
        print(f"  blocking check(s) failed: {', '.join(result.blocked_by)}; committed, but the history, the "
              "reports and the catalog were not refreshed (the next snapshot does it)")
    else:
        print(f"  catalog: {config.root / 'inventory.duckdb'}")
    return result.exit_code


def renormalize_command(args: argparse.Namespace) -> int:
    try:
        config = load_usable_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    from pipeline.flow import renormalize
    try:
        done = renormalize(config, None if args.all else args.snapshot)
    except KeyError as exc:
        return _fail(exc.args[0], 2)
    except (LakeBusyError, ValueError) as exc:
        return _fail(str(exc), 1 if isinstance(exc, LakeBusyError) else 2)
    except OSError as exc:
        return _fail(f"storage {config.root}: {_os_reason(exc)}", 1)
    print(f"renormalized {len(done)} snapshot(s)")
    return 0


def report_command(args: argparse.Namespace) -> int:
    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    unknown = sorted(set(formats) - {"xlsx", "csv", "html"})
    if unknown or not formats:
        return _fail(f"--format: unknown format {', '.join(unknown) or '(none)'}; use xlsx, csv, html", 2)
    if args.from_day and args.to_day and args.from_day > args.to_day:
        return _fail(f"--from {args.from_day} is after --to {args.to_day}", 2)
    try:
        config = load_usable_config(args.config)
        out = _out_dir(config, args.out)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    import duckdb

    from pipeline.lake.space import no_space
    from pipeline.reports.days import export
    try:
        result = export(config, args.from_day, args.to_day, formats, out)
    except (FileNotFoundError, ValueError) as exc:
        return _fail(str(exc), 2)
    except LakeBusyError as exc:
        return _fail(str(exc), 1)
    except (OSError, duckdb.Error) as exc:
        reason = no_space(exc)
        if reason is not None:
            return _fail(f"storage full: {reason}; the reports were not (all) written", EXIT_STORAGE_FULL)
        if isinstance(exc, OSError):
            return _fail(f"{exc.filename or config.root}: {_os_reason(exc)}", 1)
        raise
    print(f"reports for {result.from_day} .. {result.to_day}:")
    for name, n in result.rows.items():
        print(f"  {name}: {n} rows")
    for fmt, paths in result.files.items():
        for p in paths:
            print(f"  {fmt}: {p}")
    print(f"  {result.coverage.summary}")
    for line in result.coverage.lines()[1:]:
        print(f"    - {line}")
    return 0


def history_command(args: argparse.Namespace) -> int:
    from pipeline.reports.days import run_history

    try:
        config = load_usable_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    try:
        result = run_history(config.layout(), rebuild=args.rebuild, lock_wait_s=args.wait)
    except LakeBusyError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"storage {config.root}: {_os_reason(exc)}", 2 if isinstance(exc, PermissionError) else 1)
    how = (f"recomputed in full ({result.rebuilt})" if result.rebuilt
           else f"{len(result.folded)} snapshot(s) folded in")
    print(f"history through {result.snapshot_id or '(no snapshot)'}: {how} in {result.seconds:.1f}s")
    print("  " + ", ".join(f"{table}: {rows} row(s)" for table, rows in result.rows.items()))
    return 0


def compact_command(args: argparse.Namespace) -> int:
    from pipeline.lake.compaction import CompactionError, compact_lake

    try:
        config = load_usable_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    days = [d.isoformat() for d in args.day] if args.day else None
    bar = _DayProgress(sys.stderr.isatty() and not args.no_progress)
    try:
        result = compact_lake(config.layout(), days, include_latest=args.include_latest,
                              lock_wait_s=args.wait, on_day=bar.day)
    except (LakeBusyError, CompactionError) as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"storage {config.root}: {_os_reason(exc)}", 2 if isinstance(exc, PermissionError) else 1)
    finally:
        bar.close()
    print(f"compacted {len(result.days)} day(s) in {result.seconds:.1f}s: {result.files_before} file(s) -> "
          f"{result.files_after}, {result.rows} row(s); {len(result.skipped)} day(s) already compact")
    if result.garbage.get("table_files"):
        print(f"  removed {result.garbage['table_files']} replaced file(s) past the grace period")
    return 0


def migrate_command(args: argparse.Namespace) -> int:
    from pipeline.lake.delta import DeltaLake
    from pipeline.lake.migrate import MigrationError, migrate
    from pipeline.lake.storage import StorageError, is_s3_url, storage_for

    try:
        config = load_config(args.config)  # not load_usable_config: the old lake is read, never prepared
    except ConfigError as exc:
        return _fail(str(exc), 2)
    s3 = {k: v for k, v in (("endpoint", args.endpoint), ("region", args.region)) if v is not None}
    if args.virtual_hosted:
        s3["path_style"] = False
    if s3 and not is_s3_url(args.to):
        return _fail("--endpoint, --region and --virtual-hosted are for a bucket; --to is a folder", 2)
    to = args.to if is_s3_url(args.to) else str(Path(args.to).expanduser().resolve())
    try:
        target = DeltaLake(storage_for(to, s3 or None, key="--to"))
    except StorageError as exc:
        message = str(exc).replace("--to.s3.", "--").replace("--to.root", "--to")
        return _fail(message.replace("set it in the file or in AWS_REGION", "give --region or set AWS_REGION"), 2)
    bar = _DayProgress(sys.stderr.isatty() and not args.no_progress, "migrating")
    try:
        result = migrate(config.layout(), target, raw=not args.no_raw, on_day=bar.day)
    except MigrationError as exc:
        return _fail(str(exc), 2)
    except OSError as exc:
        return _fail(f"{target.storage.describe()}: {_os_reason(exc)}", 1)
    except Exception as exc:  # delta-rs raises its own errors for a bucket it cannot reach: one line, no secret
        return _fail(f"{target.storage.describe()}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", 1)
    finally:
        bar.close()
    print(f"migrated {len(result.days)} day(s), {result.snapshots} snapshot(s) to {target.storage.describe()} in "
          f"{result.seconds:.1f}s; {len(result.skipped)} day(s) were there already; "
          f"{result.raw_files} raw file(s) copied ({result.raw_bytes / 2**20:,.1f} MiB)")
    print("  checked, rows per table: " + ", ".join(f"{t}: {n}" for t, n in sorted(result.checked.items())))
    if result.mismatches:
        for line in result.mismatches[:50]:
            print(f"  differs: {line}", file=sys.stderr)
        more = len(result.mismatches) - 50
        return _fail(f"{len(result.mismatches)} table/snapshot count(s) differ between the lakes"
                     + (f" ({more} more not listed)" if more > 0 else ""), 1)
    return 0


class _DayProgress:
    """A progress bar over days being compacted (or migrated), on a terminal."""

    def __init__(self, show: bool, label: str = "compacting"):
        self._bar = self._task = None
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[day]}"), TimeElapsedColumn(), transient=True)
            self._bar.start()

    def day(self, day: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("compact", total=total, day="")
        self._bar.update(self._task, completed=done, day=day)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


class _Progress:
    """A rich progress bar over calls when on a terminal; a silent counter otherwise."""

    def __init__(self, show: bool):
        self.errors: Counter = Counter()
        self._bar = None
        self._task = None
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("fetching"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[errors]} errors"), TimeElapsedColumn(),
                                 transient=True)
            self._bar.start()

    def plan(self, total: int) -> None:  # again with a larger total once the per-pool calls are known
        if self._bar is not None and self._task is None:
            self._task = self._bar.add_task("fetch", total=total, errors=0)
        elif self._bar is not None:
            self._bar.update(self._task, total=total)

    def call(self, record) -> None:
        from pipeline.land.fetch import planned

        if record.outcome != "ok":
            self.errors[record.error_code or "error"] += 1
        if self._bar is not None and self._task is not None and planned(record):
            self._bar.update(self._task, advance=1, errors=sum(self.errors.values()))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def pace_lines(rates: list[dict]) -> list[str]:
    """One line per endpoint: the pace the fetch settled on and the 429s the gateway answered."""
    out = []
    for r in rates:
        attempts, throttled = r.get("attempts") or 0, r.get("throttled") or 0
        share = f" ({100 * throttled / attempts:.1f}% of {attempts} attempts)" if attempts else ""
        if r.get("mode") == "auto":
            pace = f"settled at {r.get('settled_rps', 0):.0f} req/s (started at {r.get('start_rps', 0):.0f})"
        else:
            pace = f"fixed at {r.get('settled_rps', 0):g} req/s"
        out.append(f"pace {r.get('endpoint')}: {pace}; 429s: {throttled}{share}")
    return out
