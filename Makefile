# One command per task, the same locally and in CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck unit check-config clean bench

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)  ## serve http://127.0.0.1:8080 with config/gateway.yaml
	$(BIN)/imagegate serve

check-config: $(STAMP)
	$(BIN)/imagegate check-config

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit  ## the whole suite: ruff + mypy + pytest

BENCH_STAMP := $(VENV)/.bench-$(shell cksum pyproject.toml | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.bench-* && touch $(BENCH_STAMP)

# make bench [SCENARIOS=gen_small_c1,gen_small_c64] [DURATION=4] [RUNS=3] [PROFILE=dir]
bench: $(BENCH_STAMP)  ## performance benchmark: a few minutes, loopback only (see README)
	$(BIN)/python -m bench $(if $(SCENARIOS),--scenarios $(SCENARIOS)) \
		$(if $(DURATION),--duration $(DURATION)) $(if $(RUNS),--runs $(RUNS)) \
		$(if $(PROFILE),--profile $(PROFILE)) $(if $(COMPARE),--compare $(COMPARE))

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data
