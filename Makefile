# One command per task, the same locally and in CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
# Python trees to lint and type-check; bench/ joins when it exists.
PY_DIRS := app tests $(wildcard bench)

.PHONY: run test lint typecheck unit check-config docker-test clean bench

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
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy $(PY_DIRS)

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit  ## the whole suite: ruff + hadolint + mypy + pytest

# Needs podman, buildah and podman-compose: run ../shared/tools/container-env.sh as root once.
docker-test: $(STAMP)  ## build the image with podman, run it and the compose stack, drive them
	$(BIN)/python -m tests.docker

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
