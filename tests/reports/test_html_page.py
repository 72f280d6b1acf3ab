"""The HTML report as a reader gets it: the page `poolscope demo` writes for two days of a simulated fleet.

It must be read in a minute: headline figures first (checked against the catalog), no horizontal scroll at
1280 px (page and tables, measured in chromium), a size budget, and its strict CSP. Screenshots at 1280 and
1920 px are kept in tests/reports/artifacts/.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from clikit import cli_env

ARTIFACTS = Path(__file__).parent / "artifacts"
PAGE_BUDGET = 500 * 1024
# Reads the layout after load and writes it into the DOM, which --dump-dom prints.
MEASURE = """
(function () {
  var out = {page: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth, tables: {}};
  document.querySelectorAll("div.scroll").forEach(function (d) {
    out.tables[d.parentNode.id] = d.scrollWidth - d.clientWidth;
  });
  out.figures = document.querySelectorAll("#headline .fig").length;
  document.body.setAttribute("data-measure", JSON.stringify(out));
})();
"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# The fixture's demo collects every family as `make demo` does (~5 s a snapshot on a quiet 2-core machine): the
# suite's 300 s guard against hangs is too close for it when the other worker is busy.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """Two UTC days of hourly snapshots (19:00 on day one to 04:00 on day two), as `make demo` takes them: the
    page has what the demo's 48 gives it (both kinds of day, changes between snapshots, every usage family),
    in a fifth of the time (26 snapshots took 155-215 s of the suite)."""
    root = tmp_path_factory.mktemp("html_demo")
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--out", "demo", "--snapshots", "10",
                           "--start", "2026-11-01T19:00:00Z"],
                          cwd=root, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return root / "demo"


class Figures(HTMLParser):
    """label -> (value, detail) of the headline figures."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, tuple[str, str]] = {}
        self._cls: str | None = None
        self._current: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class") or ""
        if tag == "div" and cls in ("label", "value", "detail"):
            self._cls = cls

    def handle_data(self, data):
        if self._cls:
            self._current[self._cls] = self._current.get(self._cls, "") + data

    def handle_endtag(self, tag):
        if tag == "div" and self._cls:
            if self._cls == "detail":
                c = self._current
                self.figures[c.get("label", "")] = (c.get("value", ""), c.get("detail", ""))
                self._current = {}
            self._cls = None


def test_the_page_fits_its_budget_and_opens_with_checked_headline_figures(demo):
    page = demo / "exports" / "poolscope-reports.html"
    source = page.read_text(encoding="utf-8")
    assert page.stat().st_size < PAGE_BUDGET, page.stat().st_size
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;' in source
    parsed = Figures()
    parsed.feed(source.split('<section id="headline"', 1)[1].split("</section>", 1)[0])
    figures = parsed.figures
    assert list(figures) == ["Provisioned nodes", "Accelerator cards", "Yearly/monthly nodes", "Abnormal nodes",
                             "Node-hours in the period", "Subscriptions expiring in 30 days", "Coverage"]
    con = duckdb.connect(str(demo / "data" / "inventory.duckdb"), read_only=True)
    try:
        latest = con.execute("SELECT max(snapshot_id) FROM snapshots").fetchone()[0]
        nodes = con.execute("SELECT sum(count) FROM physical_capacity WHERE snapshot_id = ?", [latest]).fetchone()[0]
        abnormal = con.execute("SELECT coalesce(sum(count), 0) FROM physical_capacity WHERE snapshot_id = ? "
                               "AND state = 'abnormal'", [latest]).fetchone()[0]
        node_hours = con.execute("SELECT sum(provisioned_node_hours) FROM capacity_utilization "
                                 "WHERE level = 'all'").fetchone()[0]
        # the catalog's subscriptions hold one row set per day partition: the newest is the page's
        unread_id, unread_name = con.execute(
            "SELECT project_id, name FROM projects WHERE project_id = (SELECT any_value(project_id) FROM fetches "
            "WHERE call = 'list_pools' AND outcome = 'error') LIMIT 1").fetchone()
        read_names = [r[0] for r in con.execute(
            "SELECT DISTINCT name FROM projects JOIN pools USING (snapshot_id, project_id)").fetchall()]
        expiring = con.execute("SELECT count(*) FROM subscriptions WHERE days_to_expiry BETWEEN 0 AND 30 "
                               "AND reference_at = (SELECT max(reference_at) FROM subscriptions)").fetchone()[0]
    finally:
        con.close()
    assert figures["Provisioned nodes"][0] == f"{nodes:,}" and nodes > 0
    assert f"since {demo_first_snapshot(demo)}" in figures["Provisioned nodes"][1]
    assert figures["Abnormal nodes"][0] == f"{abnormal:,}"
    assert figures["Node-hours in the period"][0] == f"{node_hours:,.0f}"
    assert figures["Subscriptions expiring in 30 days"][0] == f"{expiring:,}"
    # the demo has a project that is always forbidden: the page says so at the top
    assert figures["Coverage"][0] == "incomplete" and "of 8 project(s) read" in figures["Coverage"][1]
    # the unreadable project is named as people know it, its id beside the name
    coverage = source.split('<section id="coverage"', 1)[1].split("</section>", 1)[0]
    assert f"project {unread_name} ({unread_id}, " in coverage
    section = source.split('id="report-capacity_by_project"', 1)[1].split("</section>", 1)[0]
    assert len(read_names) == 7  # 8 projects, one of them forbidden
    assert all(f"<td>{name}</td>" in section for name in read_names) and unread_name not in section
    # long tables are cut, with a pointer to the files that hold every row
    assert re.search(r"\d[\d,]* rows; the first 100 are shown; \d+ more column\(s\) are not shown here; "
                     r"everything is in <code>pool_changes\.csv</code>", source)


def demo_first_snapshot(demo: Path) -> str:
    con = duckdb.connect(str(demo / "data" / "inventory.duckdb"), read_only=True)
    try:
        return con.execute("SELECT min(snapshot_id) FROM snapshots").fetchone()[0]
    finally:
        con.close()


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("chromium"), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def measure(page: Path, profile: Path, width: int) -> dict:
    dom = chromium(page, profile, f"--window-size={width},2000", "--virtual-time-budget=3000", "--dump-dom").stdout
    found = re.search(r'data-measure="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    return json.loads(found.group(1).replace("&quot;", '"'))


def measurable(source: str, extra: str = "") -> str:
    """The page with the measuring script added; its CSP admits only the page's own script, so it goes."""
    source = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", source, count=1)
    return source.replace("</body>", f"{extra}<script>{MEASURE}</script></body>")


def test_no_horizontal_scroll_at_1280_and_screenshots_at_1280_and_1920(demo, tmp_path):
    if not shutil.which("chromium"):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is required under CI=true (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    source = (demo / "exports" / "poolscope-reports.html").read_text(encoding="utf-8")
    # The measurement can fail: a table wider than the window is caught.
    wide = tmp_path / "wide.html"
    wide.write_text(measurable(source, '<div class="scroll"><table style="width:3000px"><tr><td>x</td></tr>'
                                       "</table></div>"), encoding="utf-8")
    caught = measure(wide, tmp_path / "p0", 1280)
    assert max(caught["tables"].values()) > 1000
    measured = tmp_path / "measured.html"
    measured.write_text(measurable(source), encoding="utf-8")
    for width in (1280, 1920):
        got = measure(measured, tmp_path / f"p{width}", width)
        assert got["width"] == width and got["figures"] == 7
        assert got["page"] <= 0, got                                      # the page does not scroll sideways
        assert len(got["tables"]) == 11 and all(v <= 0 for v in got["tables"].values()), got  # nor does a table
    ARTIFACTS.mkdir(exist_ok=True)
    page = demo / "exports" / "poolscope-reports.html"
    for width in (1280, 1920):
        shot = ARTIFACTS / f"report-page-{width}.png"
        shot.unlink(missing_ok=True)
        chromium(page, tmp_path / f"s{width}", f"--screenshot={shot}", f"--window-size={width},1600")
        assert shot.exists() and shot.stat().st_size > 20_000
