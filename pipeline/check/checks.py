"""Data checks on a staged snapshot, one SQL file each in `sql/checks/`: a check passes when its query
returns no row; the rows it returns are the evidence. Dagster reports them as blocking asset checks."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from pathlib import Path

import duckdb
import pyarrow as pa

from pipeline.sqlfiles import quote_ident, quote_literal, sql_text
from pipeline.catalog.docs import parse_header

if TYPE_CHECKING:
    from pipeline.normalize.step import Staged

# check name -> the table whose asset the check belongs to
CHECKS: dict[str, str] = {
    "every_target_has_fetch_row": "fetches",
    "at_least_one_target_ok": "snapshots",
    "az_counts_add_up": "pool_capacity",
    "no_duplicate_keys": "pools",
    "no_negative_counts": "pool_capacity",
    "counts_in_range": "pool_capacity",
}
# Checks that warn (Dagster severity WARN, not blocking, no report gate): check name -> its table
WARN_CHECKS: dict[str, str] = {
    "every_target_readable": "fetches",
}
SAMPLE_ROWS = 20


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    table: str
    description: str
    passed: bool
    failures: int
    sample: list[dict] = field(default_factory=list)
    severity: str = "ERROR"  # ERROR: blocks the steps after it; WARN: reported only

    @property
    def blocking(self) -> bool:
        return self.severity == "ERROR"

    @property
    def summary(self) -> str:
        return "ok" if self.passed else f"{self.failures} offending row(s), e.g. {self.sample[:3]}"


def check_description(name: str) -> str:
    return parse_header(sql_text("checks", name), f"Check {name}").description.removeprefix(
        f"Check {name}: ")


def run_checks(files: dict[str, Path], planned_targets: list[dict]) -> list[CheckOutcome]:
    con = duckdb.connect(":memory:")
    try:
        for table, path in files.items():
            con.execute(f"CREATE VIEW {quote_ident(table)} AS SELECT * FROM read_parquet({quote_literal(str(path))})")
        planned = pa.Table.from_pylist(
            planned_targets,
            schema=pa.schema([("region", pa.string()), ("project_id", pa.string()),
                              ("endpoint", pa.string()), ("workspace_id", pa.string())]),
        )
        con.register("planned_targets", planned)
        out = []
        for name, table in {**CHECKS, **WARN_CHECKS}.items():
            sql = sql_text("checks", name)
            cur = con.execute(f"SELECT * FROM ({sql}) LIMIT {SAMPLE_ROWS}")
            cols = [d[0] for d in cur.description]
            sample = [dict(zip(cols, row)) for row in cur.fetchall()]
            failures = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0] if sample else 0
            out.append(CheckOutcome(name, table, check_description(name), not sample, int(failures), sample,
                                    "WARN" if name in WARN_CHECKS else "ERROR"))
        return out
    finally:
        con.close()


def check(staged: "Staged") -> list[CheckOutcome]:
    """Step check: the checks over a staged snapshot's tables."""
    from pipeline.land.step import read_run

    return run_checks(staged.files, read_run(staged.raw_dir).get("targets", []))
