# One place for the commands the README, pre-commit and CI run.
VENV := .venv
BIN := $(VENV)/bin
## Optional extras, comma-separated: `make install EXTRAS=llm` adds the local LLM summarizer
## (gpt4all + a 1.1 GB Qwen2.5 GGUF; docs/models.md). scripts/install.sh reads it too.
EXTRAS ?=
export EXTRAS
comma := ,
BASE_STAMP := $(VENV)/.installed
STAMP := $(BASE_STAMP)$(if $(EXTRAS),-$(subst $(comma),-,$(EXTRAS)))

.PHONY: install demo test test-fast test-llm lint format typecheck bench clean-data

$(STAMP): pyproject.toml scripts/install.sh scripts/build-pgvector.sh
	bash scripts/install.sh
	touch $(STAMP) $(BASE_STAMP)

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

## The local LLM for real: installs the llm extra, then runs the tests marked llm.
test-llm:
	$(MAKE) install EXTRAS=llm
	EXTRAS=llm $(BIN)/pytest -m llm tests/integration/ml

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
