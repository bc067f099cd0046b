# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs (again whenever pyproject.toml changes).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint format clean env-table

demo: $(VENV)/.sim-installed
	$(BIN)/guard demo

test: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check guard tests examples benchmarks
	$(BIN)/ruff format --check guard tests examples benchmarks
	$(BIN)/mypy

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix guard tests examples benchmarks
	$(BIN)/ruff format guard tests examples benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.sim-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[sim]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.sim-installed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

env-table: $(VENV)/.dev-installed  ## rewrite the README's env-var table from the settings model
	$(BIN)/python -c "import re, pathlib; from guard._settings import env_table; p = pathlib.Path('README.md'); s = p.read_text(); p.write_text(re.sub(r'(<!-- env-table:[^\n]*-->\n).*?(\n<!-- /env-table -->)', lambda m: m.group(1) + env_table() + m.group(2), s, flags=re.S))"
