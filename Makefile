# The README's two commands. Both create .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format install install-dev gpu-check gpu-check-smoke gpu-wheels gpu-data

$(BIN)/python:
	@# torch with its CUDA libraries fills about 6 GB of .venv; say so before pip fails minutes in with ENOSPC
	@$(PY) -c "import shutil, tempfile; free = min(shutil.disk_usage(d).free for d in ('.', tempfile.gettempdir())) / 2**30; \
	free < 7 and print(f'warning: {free:.1f} GB free here or in the temp folder; installing torch may need about 7 GB')"
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation 'basicsr==1.4.2'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/upres demo

# Most of the suite's time is spent waiting (processes starting, torchrun meeting, files written): two pytest
# processes keep two cores busy. More on a bigger machine: make test TEST_WORKERS=8
TEST_WORKERS ?= 2

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

# The GPU check (docs/benchmarks.md): the test suite and the GPU benchmarks on CUDA, written to gpu-check.json and
# gpu-check.md. It uses .venv when there is one, else $(PY) as is (a GPU machine's Python with torch, the wheels from
# `make gpu-wheels` installed). More options: make gpu-check ARGS="--skip tests --no-compile".
CHECK_PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY))

gpu-check:
	PYTHONPATH=src $(CHECK_PY) bench/gpu_check.py $(ARGS)

gpu-check-smoke:
	PYTHONPATH=src $(CHECK_PY) bench/gpu_check.py --smoke $(ARGS)

gpu-wheels:
	$(CHECK_PY) bench/gpu_wheels.py download

# The test data a device machine lacks (../shared does not travel): copied into the git-ignored .gpudata/ to carry.
gpu-data:
	rm -rf .gpudata && cp -r ../shared/data .gpudata
