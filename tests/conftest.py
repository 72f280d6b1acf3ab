"""Suite-wide: the order in which pytest-xdist hands out test modules.

`make test` distributes whole modules (`--dist loadscope`), so that a module-scoped fixture (a demo, a built
lake: up to a minute each) is built once, not once per worker as when single tests are spread. Modules go out
in collection order; the longest ones are moved to the front, so that no worker is left running one of them
alone at the end (the crash suite alone takes ~165 s).
"""

FIRST = (  # module path suffixes, longest first (as measured by `pytest --durations`)
    "tests/test_crashes.py",
    "tests/test_crashes_bucket.py",
    "tests/test_region_runs.py",
    "tests/test_concurrency_bucket.py",
    "tests/lake/test_compaction.py",
    "tests/reports/test_html_page.py",
    "tests/history/test_history_incremental.py",
    "tests/test_confirmed_deletions.py",
    "tests/test_cli.py",
    "tests/test_postgres_instance.py",
    "tests/lake/test_migrate.py",
    "tests/test_full_disk.py",
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next((i for i, suffix in enumerate(FIRST) if path.endswith(suffix)), len(FIRST))

    items.sort(key=rank)  # stable: the order within a module, and of all other modules, is kept
