# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# The UI test drives Debian's chromium (never a browser downloaded by a test tool).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Tests and benchmarks start ephemeral Prefect servers, slow to start on a busy 2-core machine. Not for the
# demo: a Prefect setting in its environment would key its warm runner apart from the commands typed after it.
test test-fast bench: export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120

.PHONY: demo test test-fast bench lint install clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

demo: $(INSTALLED)
	$(BIN)/narrate examples/guide.md --out ./narrations/

bench: $(INSTALLED) postgres-package
	$(BIN)/python -m benchmarks.bench

test: $(INSTALLED) $(CHROMIUM) postgres-package
	$(BIN)/python -m pytest

# The tests that need no server (no Prefect, no database, no browser): under a minute.
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m "not slow" -q -n 2

lint: $(INSTALLED)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) narrations .pytest_cache

# PostgreSQL for a Prefect server on this machine (scripts/postgres.sh): Debian's package, installed once,
# a cluster in .postgres/ listening on 127.0.0.1; prints the PREFECT_API_DATABASE_CONNECTION_URL.
# (postgres-package alone is what the PostgreSQL fleet test needs.)
.PHONY: postgres postgres-package
postgres-package:
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { $(SUDO) apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; }

postgres: postgres-package
	scripts/postgres.sh start
