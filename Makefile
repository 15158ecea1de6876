# digitrec: `make run` trains and evaluates the default model; `make test` runs the suite.
# Every target is idempotent: .venv is created once and refreshed when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(if $(DIGITREC_DATA_DIR),$(DIGITREC_DATA_DIR),$(wildcard ../shared/data/mnist))
MODEL ?= fast
RUN_DIR ?= runs/make-run-$(MODEL)
export TF_CPP_MIN_LOG_LEVEL := 3
# The browser tests drive the system's Chromium (never a downloaded browser build); without one they are skipped.
CHROMIUM := $(firstword $(foreach name,chromium chromium-browser,$(shell command -v $(name) 2>/dev/null)))
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

.PHONY: install dev chromium run test clean

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

# Installs Chromium with apt-get only where it is missing and root or password-less sudo is at hand;
# never asks for a password. Elsewhere the browser tests are skipped, and pytest says why.
chromium:
	@if [ -n "$(CHROMIUM)" ]; then :; \
	elif command -v apt-get >/dev/null && { [ -z "$(SUDO)" ] || sudo -n true 2>/dev/null; }; then \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| echo "warning: could not install Chromium; the browser tests will be skipped" >&2; \
	else echo "warning: no Chromium, and no apt-get with root or password-less sudo to install it;" \
		"the browser tests will be skipped" >&2; fi

dev: $(VENV)/.installed-dev chromium

run: install
	$(BIN)/digitrec train --model $(MODEL) --out $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(BIN)/digitrec evaluate --model $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))
	$(BIN)/digitrec report $(RUN_DIR) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: dev
	$(BIN)/ruff check src tests
	$(if $(DATA_DIR),DIGITREC_DATA_DIR=$(abspath $(DATA_DIR))) $(BIN)/python -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
