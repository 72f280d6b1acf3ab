# poolscope: `make demo` and `make test` are the whole set-up on a machine with python3 (>= 3.11) and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv from PATH, else a private copy bootstrapped with pip into .tools/ (no system-wide install needed).
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
DEMO_CONFIG := demo-data/poolscope.yaml
DAGSTER_PORT ?= 3000
# Trust the platform's certificate store (where a corporate CA lives), not only uv's bundled roots.
export UV_SYSTEM_CERTS ?= 1

.PHONY: install browser postgres demo test soak bench dev sql clean

install: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet 'uv>=0.9,<1'

demo: install
	$(BIN)/poolscope demo --out demo-data

# The HTML export test opens the page in Debian's chromium. As root (CI) it is installed when missing; elsewhere
# the test is skipped with a note (and fails under CI=true, where it must run).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not found; the browser test will be skipped"; fi; }

# The PostgreSQL-backed Dagster instance tests (tests/pgkit.py) run Debian's PostgreSQL server binaries
# (/usr/lib/postgresql/<major>/bin; the tests use none of the package's clusters or services: each starts its own
# server on a unix socket). As root (CI) they are installed when missing; elsewhere those tests are skipped with a
# note (and fail under CI=true).
postgres:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "note: PostgreSQL's server binaries not found; the PostgreSQL instance tests will be skipped"; fi; }

# Three workers (pytest-xdist) on this 2-CPU machine: about a sixth of the suite is waiting (servers starting, the
# Dagster daemon's minute tick, snapshot ids a second apart), measured 14:12 with one worker per core. Whole modules
# to a worker: a module's fixture (a demo, a built lake) is built once; tests/conftest.py hands out the longest
# modules first.
test: install browser postgres
	$(BIN)/pytest -q -p no:cacheprovider -n 3 --dist loadscope

# The reliability suite at a larger scale: 200 kill -9s on a new seed, faults over 2,000 projects (~10 min).
soak: install
	POOLSCOPE_SOAK_KILLS=$${KILLS:-200} POOLSCOPE_SOAK_SEED=$${SEED:-$$(date +%s)} \
	  POOLSCOPE_SOAK_PROJECTS=$${PROJECTS:-2000} $(BIN)/pytest -q -s -p no:cacheprovider tests/test_crashes.py tests/test_faults.py

# `make install` plus the bench group (dlt: a baseline of bench_normalize), installed here only.
bench: $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) --group bench
	$(BIN)/python -m benchmarks

# Dagster UI on loopback only, on the demo's config, with the demo's simulated fleet served again.
dev: install
	@test -f $(DEMO_CONFIG) || { echo "no $(DEMO_CONFIG): run 'make demo' first"; exit 2; }
	$(BIN)/poolscope dev --out demo-data --port $(DAGSTER_PORT)

# The demo's catalog in the DuckDB shell, read-only (poolscope sql; the shell comes with the duckdb-cli package).
sql: install
	@test -f $(DEMO_CONFIG) || { echo "no $(DEMO_CONFIG): run 'make demo' first"; exit 2; }
	$(BIN)/poolscope sql --config $(DEMO_CONFIG)

clean:
	rm -rf $(VENV) .tools demo-data .pytest_cache .hypothesis
