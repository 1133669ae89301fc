# evd — two commands set everything up: `make demo` and `make test`.
# Pythons are launched by their real path (a pyenv shim costs ~150 ms a spawn).
PYTHON ?= $(shell python3 -c 'import sys; print(sys.executable)')
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.evd-installed
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv
export DO_NOT_TRACK := 1

.PHONY: install demo test lint bench gpu-check clean

# evd's own bytecode: an editable install leaves it uncompiled, and where
# PYTHONDONTWRITEBYTECODE is set every `evd` start would compile it again (~45 ms).
# compileall skips what is up to date, so this costs nothing when nothing changed.
install: $(STAMP)
	$(BIN)/python -m compileall -q evd tui >/dev/null

# Rebuilt only when the project's metadata changes, so a second `make install` is instant.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	# A "compat" editable install is a plain .pth path entry: no import hook for
	# every `evd` start to load (~14 ms).
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode \
		--config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/python examples/tour/demo.py

lint: install
	$(BIN)/ruff check evd tui tests bench examples
	$(BIN)/ruff format --check evd tui tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q -n 2 --durations=10

# On a machine with an NVIDIA GPU: evd against the real driver (exits 77 without one).
gpu-check: install
	$(BIN)/python tests/gpu_check.py

bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/floor.py
	$(BIN)/python bench/cli.py
	$(BIN)/python bench/envs.py
	$(BIN)/python bench/schedule.py
	$(BIN)/python bench/packing.py
	$(BIN)/python bench/daft_overhead.py
	$(BIN)/python bench/tui_live.py
	$(BIN)/python bench/warm.py
	$(BIN)/python bench/staging.py
	$(BIN)/python bench/forecast.py

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
