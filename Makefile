# make demo: install into .venv and run the tour; make test: install and run the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint unit integration bench clean

$(STAMP): pyproject.toml scripts/venv.sh
	PYTHON=$(PYTHON) sh scripts/venv.sh $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/changeover demo

test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples bench
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/flags_eval.py
	$(BIN)/python bench/run.py --rounds 3 --seconds 5
	$(BIN)/python bench/nagle.py --rounds 2 --seconds 3 --rate 200

integration: $(STAMP)
	$(BIN)/pytest tests/integration

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build dist
