# hubsim developer tasks. `make` alone lists them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test lint fmt demo bench dist dist-check clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install hubsim with dev tools

test: $(STAMP) ## run the whole test suite
	$(BIN)/pytest -q

lint: $(STAMP) ## ruff format check, ruff check, mypy strict
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

fmt: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: $(STAMP) ## start the built-in receiver and send 5,000 realistic events to it
	$(BIN)/hubsim demo

bench: $(STAMP) ## hubsim's own speed, as ratios against baselines measured in the same run
	$(BIN)/python -m benchmarks.bench_throughput

dist: $(STAMP) ## build the sdist and the wheel into dist/
	$(BIN)/python -m build --sdist --wheel --outdir dist .

dist-check: $(STAMP) ## build, install the wheel in a fresh venv, use it from elsewhere
	PY=$(PY) bash .ci/dist-check

clean: ## remove the virtualenv, caches and dist/
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis dist build
