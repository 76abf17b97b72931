# csir — the pipeline. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
BUILD ?= build
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

# The local data mirror: ../shared/data when present, unless CSIR_DATA_DIR is already set.
ifeq ($(origin CSIR_DATA_DIR), undefined)
  ifneq ($(wildcard ../shared/data),)
    CSIR_DATA_DIR := $(abspath ../shared/data)
  endif
endif
export CSIR_DATA_DIR
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: help setup all test test-fast lint format smoke pipeline pipeline-full lab scrub clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python ## create .venv and install csir with the offline backbone, notebook and dev extras
	$(BIN)/python -m pip install --quiet -e ".[offline,notebooks,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

all: setup pipeline ## set up, then run the pipeline in its CPU configuration (notebooks 01-04)

test: ## run the test suite, then execute every notebook in smoke mode with nbval
	$(BIN)/python -m pytest tests
	CSIR_SMOKE=1 CSIR_BUILD_DIR=$(abspath $(BUILD))/nbval $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider notebooks

test-fast: ## the test suite without tests marked slow (no real backbone)
	$(BIN)/python -m pytest tests -m "not slow"

lint: ## ruff over the package, tests, benchmarks and notebooks
	$(BIN)/ruff check csir tests benchmarks notebooks
	$(BIN)/ruff format --check csir tests benchmarks

format: ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix csir tests benchmarks notebooks
	$(BIN)/ruff format csir tests benchmarks

# One executed copy per notebook and mode; each mode writes its results under build/<mode>/.
$(BUILD)/smoke/%.ipynb: notebooks/%.ipynb FORCE
	@mkdir -p $(@D)
	CSIR_BUILD_DIR=$(abspath $(@D)) $(BIN)/papermill --log-output $< $@ -p smoke True

# The CPU configuration: each notebook's full defaults, overridden by configs/cpu/<notebook>.yaml
# where one exists (training and evaluation shrunk to what 2 CPU cores finish in about an hour).
$(BUILD)/cpu/%.ipynb: notebooks/%.ipynb FORCE
	@mkdir -p $(@D)
	CSIR_BUILD_DIR=$(abspath $(@D)) $(BIN)/papermill --log-output $< $@ -p smoke False \
	  $(if $(wildcard configs/cpu/$*.yaml),-f configs/cpu/$*.yaml)

# The full offline configuration: every notebook's own defaults (GPU-sized from notebook 03 on).
$(BUILD)/offline/%.ipynb: notebooks/%.ipynb FORCE
	@mkdir -p $(@D)
	CSIR_BUILD_DIR=$(abspath $(@D)) $(BIN)/papermill --log-output $< $@ -p smoke False

FORCE:

smoke: $(patsubst notebooks/%,$(BUILD)/smoke/%,$(NOTEBOOKS)) ## every notebook in smoke mode (about a minute each on CPU); results in build/smoke/

pipeline: $(patsubst notebooks/%,$(BUILD)/cpu/%,$(NOTEBOOKS)) ## every notebook in the CPU configuration; results in build/cpu/

pipeline-full: $(patsubst notebooks/%,$(BUILD)/offline/%,$(NOTEBOOKS)) ## every notebook with its full offline defaults (needs a GPU); results in build/offline/

lab: ## open JupyterLab on the notebooks
	$(BIN)/jupyter lab notebooks

scrub: ## strip outputs and execution counts from the notebooks
	$(BIN)/nbstripout --drop-empty-cells $(NOTEBOOKS)

clean: ## remove build outputs (keeps .venv and the model cache)
	rm -rf $(BUILD)
