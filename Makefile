# The README's two commands. Both create .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format install install-dev

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

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench
