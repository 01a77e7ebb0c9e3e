# The two commands of the README: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SRC := app tests scripts migrations

.PHONY: run test lint format migrate schema bench-ingest bench-cycle bench-history bench-api bench-dispatch bench-events bench-backtest bench-sync bench-apply bench-maturity bench-citus bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/autonomous-ops serve

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy app

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix $(SRC)
	$(BIN)/ruff format $(SRC)

migrate: $(VENV)/.installed
	$(BIN)/autonomous-ops migrate

# docs/schema.sql from the migrations and the function files; records new migration files as released.
schema: $(VENV)/.installed-dev
	$(BIN)/python scripts/schema_snapshot.py

bench-ingest: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_ingest.py

bench-cycle: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_cycle.py
	$(BIN)/python scripts/bench_cycle.py --accounts

bench-history: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_cycle.py --history
	$(BIN)/python scripts/bench_cycle.py --partitions

bench-api: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_api.py --connections 8

bench-dispatch: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_dispatch.py

bench-events: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_events.py

bench-backtest: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_backtest.py

bench-sync: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_sync.py

bench-apply: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_apply.py

bench-maturity: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_maturity.py

# needs a Citus coordinator with its workers: CITUS_BENCH_URL (or CITUS_TEST_URL); not part of `make bench`
bench-citus: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_citus.py

bench: bench-ingest bench-cycle bench-history bench-api bench-dispatch bench-events bench-backtest bench-sync bench-apply bench-maturity
