# digitrec: `make run` trains and evaluates the default model; `make test` runs the suite.
# Every target is idempotent: .venv is created once and refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(if $(DIGITREC_DATA_DIR),$(DIGITREC_DATA_DIR),$(wildcard ../shared/data/mnist))
MODEL ?= fast
RUN_DIR ?= runs/make-run-$(MODEL)
export TF_CPP_MIN_LOG_LEVEL := 3
# The browser tests drive Debian's Chromium (never a downloaded browser build).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: install dev run test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[keras]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

$(CHROMIUM):
	@if command -v apt-get >/dev/null; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "warning: no apt-get: install Chromium at $(CHROMIUM) for the browser tests" >&2; fi

dev: $(VENV)/.installed-dev $(CHROMIUM)

run: install
	$(BIN)/digitrec train --model $(MODEL) --out $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(BIN)/digitrec evaluate --model $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(BIN)/digitrec report $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: dev
	$(if $(DATA_DIR),DIGITREC_DATA_DIR=$(abspath $(DATA_DIR))) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
