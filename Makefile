# thumbkit's commands. The README's two: `make example` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV312 := .venvs/py312-dj61/bin
VENV311 := .venvs/py311-dj52/bin
RUFF := $(VENV312)/ruff
NOVENV := --extend-exclude .venvs
PORT ?= 8000

.PHONY: help example test services venvs venv312 lint fmt docs docs-serve bench clean distclean

help:
	@echo "make example     run the example site (SQLite, local files) on http://127.0.0.1:8000"
	@echo "                 (another port: make example PORT=8001)"
	@echo "make test        run every check and test (what CI runs)"
	@echo "make lint        ruff check, ruff format --check, mypy"
	@echo "make fmt         ruff format and ruff check --fix"
	@echo "make docs        build the docs (mkdocs build --strict); docs-serve to preview"
	@echo "make bench       run benchmarks/run.py with Python 3.12"
	@echo "make clean       remove build output and caches; distclean also removes .venvs"

example:
	PORT=$(PORT) bash scripts/example.sh

test:
	bash scripts/test.sh

services:
	bash scripts/services.sh

venvs:
	bash scripts/venvs.sh

venv312:
	bash scripts/venvs.sh py312-dj61

lint: venv312
	$(RUFF) check $(NOVENV) .
	$(RUFF) format --check $(NOVENV) .
	$(VENV312)/mypy

fmt: venv312
	$(RUFF) format $(NOVENV) .
	$(RUFF) check --fix $(NOVENV) .

docs: venv312
	$(VENV312)/mkdocs build --strict

docs-serve: venv312
	$(VENV312)/mkdocs serve -a 127.0.0.1:8001

bench: venv312
	@if [ -f benchmarks/run.py ]; then \
		$(VENV312)/python benchmarks/run.py; \
	else \
		echo "benchmarks/run.py does not exist yet"; exit 1; \
	fi

clean:
	rm -rf site build dist .mypy_cache .ruff_cache .pytest_cache example/var benchmarks/results
	find . -path ./.venvs -prune -o -type d -name __pycache__ -exec rm -rf {} +
	find . -path ./.venvs -prune -o -type d -name '*.egg-info' -exec rm -rf {} +

distclean: clean
	rm -rf .venvs
