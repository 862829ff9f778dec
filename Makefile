# make demo: install into .venv and run the tour; make test: install and run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint parts core io e2e bench screenshots clean

$(STAMP): pyproject.toml scripts/venv.sh
	PYTHON=$(PYTHON) sh scripts/venv.sh $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/changeover demo

# Four workers on two cores: most e2e time is waiting on agents and replicas, not CPU;
# loadgroup keeps the tests that share one agent on one worker.
XDIST := -n 4 --dist loadgroup

test: lint parts
	$(BIN)/pytest $(XDIST) --durations=15

parts:
	sh scripts/parts.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy --explicit-package-bases bench/*.py
	$(BIN)/lint-imports

core: $(STAMP)
	$(BIN)/pytest tests/core

io: $(STAMP)
	$(BIN)/pytest $(XDIST) tests/io

e2e: $(STAMP)
	$(BIN)/pytest $(XDIST) tests/e2e

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/flags_eval.py
	$(BIN)/python bench/run.py --rounds 3 --seconds 5
	$(BIN)/python bench/nagle.py --rounds 2 --seconds 3 --rate 200
	$(BIN)/python bench/dashboard.py --rounds 3 --seconds 5

# the dashboard's screenshots in docs/img/, from the current code (a browser test run)
screenshots: $(STAMP) parts
	sh scripts/screenshots.sh

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
