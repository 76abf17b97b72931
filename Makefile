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

.PHONY: help setup all test test-fast lint format smoke quick study reproduce paper figures lab scrub clean \
	gpu-bundle gpu-study gpu-unpack gpu-dry-run

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

setup: $(BIN)/python ## create .venv and install csir with the offline backbone, notebook and dev extras
	$(BIN)/python -m pip install --quiet -e ".[offline,notebooks,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null

all: setup quick ## set up, then all seven notebooks in the quick configuration (22 min on 2 cores, measured)

test: ## the test suite, then all seven notebooks end to end in smoke mode (papermill), then nbval over them
	$(BIN)/python -m pytest tests
	$(PIPELINE) configs/smoke.yaml
	CSIR_SMOKE=1 CSIR_BUILD_DIR=$(abspath $(BUILD))/smoke $(BIN)/python -m pytest --nbval-lax -p no:cacheprovider notebooks
	$(MAKE) --no-print-directory gpu-dry-run

test-fast: ## the test suite without tests marked slow (no real backbone)
	$(BIN)/python -m pytest tests -m "not slow"

lint: ## ruff over the package, tests, benchmarks and notebooks
	$(BIN)/ruff check csir tests benchmarks notebooks
	$(BIN)/ruff format --check csir tests benchmarks

format: ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix csir tests benchmarks notebooks
	$(BIN)/ruff format csir tests benchmarks

# Every configuration is one YAML in configs/ run by csir.pipeline (papermill): executed notebooks
# and results land in build/<config>/. CONFIG picks the configuration of `make figures`.
CONFIG ?= cpu
PIPELINE := CSIR_BUILD_DIR=$(abspath $(BUILD)) $(BIN)/python -m csir.pipeline

smoke: ## all seven notebooks in smoke mode on CPU (about 1.5 min, and 50 s for 07); build/smoke/
	$(PIPELINE) configs/smoke.yaml

quick: ## the quick configuration (make all's job; 15 min on 2 cores after set-up); build/quick/
	$(PIPELINE) configs/quick.yaml

study: ## the CPU study: 15 models, all 1,190 questions (2.5 h on 2 cores); build/cpu/, figures/
	$(PIPELINE) configs/cpu.yaml

reproduce: ## the full offline configuration through the notebooks (a GPU: use gpu-bundle); figures/offline-full/
	$(PIPELINE) configs/offline-full.yaml

paper: ## the paper's setting: mMARCO, MS MARCO triples, online backbones (internet + GPUs)
	$(PIPELINE) configs/paper-mmarco.yaml

figures: ## notebook 06 alone from the cached results of CONFIG (default cpu) into figures/
	$(PIPELINE) configs/$(CONFIG).yaml --only 06_paper_figures

# The GPU study (configs/offline-full.yaml, the full offline study; README: "The GPU study"):
# packed on CPU, one command on the GPU machine (the study and the throughput benchmark),
# unpacked on CPU. GPU_STUDY is that command, run from the repository root there.
GPU_CONFIG ?= offline-full
GPU_BUNDLE := $(abspath $(BUILD))/gpu-bundle
GPU_BUDGET ?= 540
GPU_BENCHMARK ?= 75
GPU_WORKERS ?= 6
GPU_STUDY := PYTHONPATH=. python3 -m csir.gpu_study run $(BUILD)/gpu-bundle/bundle.tar.gz \
	--budget $(GPU_BUDGET) --benchmark $(GPU_BENCHMARK) --workers $(GPU_WORKERS) \
	--out $${OUT:-$(BUILD)/gpu-out}

gpu-bundle: ## CPU side of the GPU study: notebooks 01-02, then build/gpu-bundle/bundle.tar.gz
	$(PIPELINE) configs/$(GPU_CONFIG).yaml --only 01 --only 02
	CSIR_BUILD_DIR=$(abspath $(BUILD)) $(BIN)/python -m csir.gpu_study pack \
	  configs/$(GPU_CONFIG).yaml --bundle $(GPU_BUNDLE) --benchmark $(GPU_BENCHMARK) \
	  --budget $(GPU_BUDGET)
	@echo "on the GPU machine, from the repository root: $(GPU_STUDY)"

gpu-study: ## the GPU side (on the GPU machine; OUT=where results.tar.gz goes)
	$(GPU_STUDY)

gpu-unpack: ## CPU: RESULTS=<a GPU run's results.tar.gz> into build/<GPU_CONFIG>, then notebooks 05-06
	$(BIN)/python -m csir.gpu_study unpack $(RESULTS) --build $(abspath $(BUILD))/$(GPU_CONFIG) --check
	$(PIPELINE) configs/$(GPU_CONFIG).yaml --only 05 --only 06

# The GPU image's versions of the libraries in configs/gpu-image.txt, over .venv's other packages
# (a .pth line puts .venv's site-packages after them): the dry run's GPU side runs with these.
GPU_IMAGE_VENV := $(BUILD)/gpu-image-venv
$(GPU_IMAGE_VENV)/installed: configs/gpu-image.txt | $(BIN)/python
	rm -rf $(GPU_IMAGE_VENV)
	$(BIN)/python -m venv --without-pip $(GPU_IMAGE_VENV)
	site=$$($(GPU_IMAGE_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') && \
	  $(BIN)/python -m pip install --quiet --no-deps --target $$site -r configs/gpu-image.txt && \
	  $(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > $$site/zz-csir-venv.pth
	touch $@

gpu-dry-run: $(GPU_IMAGE_VENV)/installed ## the GPU study's round trip on CPU at smoke sizes (GPU side: the GPU image's library versions), then notebooks 05-06 (needs make smoke's 01-02)
	rm -rf $(BUILD)/gpu-dry-run
	CSIR_BUILD_DIR=$(abspath $(BUILD)) $(BIN)/python -m csir.gpu_study pack configs/$(GPU_CONFIG).yaml \
	  --smoke --from-build $(abspath $(BUILD))/smoke --bundle $(BUILD)/gpu-dry-run --wheel-python local
	PYTHONPATH=. $(GPU_IMAGE_VENV)/bin/python -m csir.gpu_study run $(BUILD)/gpu-dry-run/bundle.tar.gz \
	  --device cpu --workers 2 --block-absent --budget 480 --benchmark 120 --work $(BUILD)/gpu-dry-run/work \
	  --out $(BUILD)/gpu-dry-run/out
	$(BIN)/python -m csir.gpu_study unpack $(BUILD)/gpu-dry-run/out/results.tar.gz \
	  --build $(BUILD)/gpu-dry-run/unpacked --check --benchmark $(BUILD)/gpu-dry-run/out/gpu_throughput.json
	$(PIPELINE) configs/$(GPU_CONFIG).yaml --only 05 --only 06 --build $(abspath $(BUILD))/gpu-dry-run/unpacked \
	  --outputs-in-build

lab: ## open JupyterLab on the notebooks
	$(BIN)/jupyter lab notebooks

scrub: ## strip outputs and execution counts from the notebooks
	$(BIN)/nbstripout --drop-empty-cells $(NOTEBOOKS)

clean: ## remove build outputs (keeps .venv and the model cache)
	rm -rf $(BUILD)
