# One command per task, the same locally and in CI.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# make run [HOST=127.0.0.1] [PORT=8080]
HOST   ?= 127.0.0.1
PORT   ?= 8080
# Two installs, each re-done whenever pyproject.toml changes: the runtime alone (`make run`)
# and the runtime with the dev tools (everything else). The dev install satisfies both.
CKSUM     := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.runtime-$(CKSUM)
DEV_STAMP := $(VENV)/.dev-$(CKSUM)
# Python trees to lint and type-check; bench/ joins when it exists.
PY_DIRS := app tests $(wildcard bench)

.PHONY: run test lint typecheck unit check-config docker-test clean clean-data bench

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@rm -f $(VENV)/.runtime-* && touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.dev-* $(VENV)/.runtime-* && touch $(DEV_STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)  ## serve http://$(HOST):$(PORT) with config/gateway.yaml (runtime deps only)
	$(BIN)/imagegate serve --host $(HOST) --port $(PORT)

check-config: $(RUN_STAMP)
	$(BIN)/imagegate check-config

# bench/ is optional (it may not exist yet on a branch): lint and type-check it when present.
lint: $(DEV_STAMP)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)
	$(BIN)/hadolint Dockerfile

typecheck: $(DEV_STAMP)
	$(BIN)/mypy $(PY_DIRS)

unit: $(DEV_STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit  ## the whole suite: ruff + hadolint + mypy + pytest

# Needs podman, buildah and podman-compose: run ../shared/tools/container-env.sh as root once.
docker-test: $(DEV_STAMP)  ## build the image with podman, run it and the compose stack, drive them
	$(BIN)/python -m tests.docker

BENCH_STAMP := $(VENV)/.bench-$(CKSUM)

$(BENCH_STAMP): $(DEV_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@rm -f $(VENV)/.bench-* && touch $(BENCH_STAMP)

# make bench [SCENARIOS=gen_small_c1,gen_small_c64] [DURATION=4] [RUNS=3] [PROFILE=dir]
#            [COMPARE=results.json] [STORAGE_DIR=/dev/shm/imagegate-bench]
bench: $(BENCH_STAMP)  ## performance benchmark: a few minutes, loopback only (see README)
	$(BIN)/python -m bench $(if $(SCENARIOS),--scenarios $(SCENARIOS)) \
		$(if $(DURATION),--duration $(DURATION)) $(if $(RUNS),--runs $(RUNS)) \
		$(if $(PROFILE),--profile $(PROFILE)) $(if $(COMPARE),--compare $(COMPARE)) \
		$(if $(STORAGE_DIR),--storage-dir $(STORAGE_DIR))

# Never deletes data/ (stored images, the async-jobs database): that is `make clean-data`.
clean:  ## remove the venv and tool caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# Only ./data, the shipped config's default (IMAGEGATE_DATA_DIR and IMAGEGATE_JOBS_DB move it).
clean-data:  ## delete data/: every stored image and the async-jobs database
	@if [ -e data ]; then \
		echo "deleting data/ ($$(du -sh data | cut -f1)): every stored image and the async-jobs database"; \
		rm -rf data; \
	else echo "data/ does not exist: nothing to delete"; fi
