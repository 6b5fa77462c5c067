# Two commands do all the set-up on a fresh machine:
#   make demo   install, create the SQLite database under ./galactive-data, generate a mock
#               survey and run the main job as far as it exists
#   make test   install and run the test suite (lint included)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build lies on our machines' disk; elsewhere set TORCH_SPEC to what suits you.
TORCH_SPEC ?= torch==2.13.0
N ?= 2000
SEED ?= 1
PYTEST_ARGS ?= -n 2

.PHONY: install demo test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/galactive init
	$(BIN)/galactive mock --n $(N) --seed $(SEED) --skip-existing
	$(BIN)/galactive train --survey mock
	$(BIN)/galactive status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf galactive-data test-output
