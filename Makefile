# Two commands from a fresh clone: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS ?= dev

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv || true
	if [ -x $(BIN)/uv ]; then \
		$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[$(EXTRAS)]' && \
		$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps 'pycanon==1.3.6'; \
	else \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]' && \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'pycanon==1.3.6'; \
	fi
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib anon_ops > /dev/null || true
	touch $(STAMP)

# the main job on the embedded runtime (out/: table, statistics, privacy report), then the Airflow
# warehouse-refresh DAG end to end with no server (a DuckDB warehouse in out/airflow_demo)
demo: setup
	ANON_OPS_HOME=$(CURDIR)/out/home $(BIN)/anon-ops demo --output-dir out
	$(BIN)/python -m anon_ops.airflow.demo --home out/airflow_demo

# Debian's Chromium, for the privacy report's headless-browser test
browser:
	test -x /usr/bin/chromium || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium > /dev/null)

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/bench_engine.py

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis
