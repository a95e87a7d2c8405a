# One command per task, the same locally and in CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck unit check-config clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)  ## serve http://127.0.0.1:8080 with config/gateway.yaml
	$(BIN)/imagegate serve

check-config: $(STAMP)
	$(BIN)/imagegate check-config

# bench/ is optional (it may not exist yet on a branch): lint and type-check it when present.
lint: $(STAMP)
	$(BIN)/ruff check app tests $(wildcard bench)
	$(BIN)/ruff format --check app tests $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy $(if $(wildcard bench),,-p app -p tests)

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit  ## the whole suite: ruff + mypy + pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
