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
PORT ?= 8501
# The demo's admin; a local, throwaway account (change it, or add your own with `galactive user add`).
DEMO_USER ?= demo
DEMO_PASSWORD ?= galactive-demo
PYTEST_ARGS ?= -n 2

.PHONY: install demo test lint browser clean

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
	$(BIN)/galactive mock --n $(N) --seed $(SEED) --expert-labels 0.1 --skip-existing
	$(BIN)/galactive user list | grep -qP '\t$(DEMO_USER)\t' \
	  || echo '$(DEMO_PASSWORD)' | $(BIN)/galactive user add $(DEMO_USER) --role admin --password-stdin
	# the app first: the first model and a retrain round are the worker's jobs, shown in the app
	$(BIN)/galactive train --survey mock --labels --skip-if-active --background
	$(BIN)/galactive retrain --survey mock --epochs 3
	@echo "Open http://127.0.0.1:$(PORT) and sign in as $(DEMO_USER) / $(DEMO_PASSWORD); Ctrl-C stops."
	$(BIN)/galactive worker --retrain-every 50 & WORKER=$$!; \
	  trap 'kill $$WORKER' EXIT; $(BIN)/galactive serve --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser test drives Debian's Chromium (never a downloaded browser). Skipped when it is
# there; when another apt or dpkg holds the package lock, wait for it (up to 10 min).
APT := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
browser:
	@test -x /usr/bin/chromium || { echo "installing Debian's chromium"; \
	  $(APT) install -y -qq chromium > /dev/null \
	  || { $(APT) update -qq && $(APT) install -y -qq chromium > /dev/null; }; }

test: lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf galactive-data test-output
