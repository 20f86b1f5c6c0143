# One place for the commands the README, pre-commit and CI run.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint format typecheck bench clean-data

$(STAMP): pyproject.toml scripts/install.sh scripts/build-pgvector.sh
	bash scripts/install.sh
	touch $(STAMP)

install: $(STAMP)

## The main job on the embedded defaults: enrich the bundled samples, then search them.
demo: install
	bash scripts/demo.sh

## The whole test suite against real services (RabbitMQ started if it is down).
test: install
	bash scripts/services.sh
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: install
	$(BIN)/mypy

bench: install
	for b in bench/*.py; do $(BIN)/python $$b | tail -n 1; done
