# Two entry points (see README): `make demo` runs the main job, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test browser lint typecheck pytest matrix bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	touch $@

# Azurite (the Azure Storage emulator) for the emit log tests, from the committed lock file.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

install: $(BIN)/.installed node_modules/.installed

demo: install
	$(BIN)/durable-graph validate examples/function_app.py
	$(BIN)/durable-graph serve examples/function_app.py --db .durable-graph/demo.db

lint: install
	$(BIN)/ruff check src tests examples bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

matrix: install
	$(BIN)/nox -s tests

# The web inspector's browser tests use the system Chromium (Playwright cannot download its
# browsers here); without it they are skipped, so a failed install does not stop the checks.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"

test: browser lint typecheck pytest matrix

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules .nox .pytest_cache .mypy_cache .ruff_cache
