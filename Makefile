# opsconsole: `make demo`, `make test`, `make bench`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

demo: $(VENV)/.installed  ## the console on a fresh demo store, sandboxes and engine
	$(BIN)/opsconsole demo

test: $(VENV)/.installed-test  ## the whole suite (CI=true: a skipped test fails the run)
	$(BIN)/pytest -n auto

bench: $(VENV)/.installed  ## prints one JSON object of figures
	@$(BIN)/python -m benchmarks.run

clean:
	rm -rf var .pytest_cache
