# Every target bootstraps what it needs on a fresh machine (DEVELOPERS.md "Two commands").
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
VENDOR := core/ui/static/vendor

.PHONY: run test lint fmt bench setup setup-node setup-browser setup-prometheus clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(VENDOR)/.built: $(NODE_STAMP) tailwind.config.js core/ui/static/app.css $(shell find core compat_sentry compat_loki compat_prom -name '*.html' 2>/dev/null)
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/uplot/dist/uPlot.iife.min.js $(VENDOR)/uPlot.iife.min.js
	cp node_modules/uplot/dist/uPlot.min.css $(VENDOR)/uPlot.min.css
	npx tailwindcss -c tailwind.config.js -i core/ui/static/app.css -o $(VENDOR)/tailwind.css --minify 2>/dev/null
	touch $(VENDOR)/.built

setup: $(STAMP) $(VENDOR)/.built

setup-browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null) || echo "chromium could not be installed; browser tests will be skipped"

setup-prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) || echo "prometheus could not be installed; tests that need it will be skipped"

# Without a readable Docker log folder (a dev machine), the log store tails ./data/docker,
# where `flowmon demo` writes its Docker-shaped json-file logs.
run: setup
	@if [ -z "$$LOG_SOURCES$$LOGS_LOG_SOURCES" ] && [ ! -r /var/lib/docker/containers ]; then \
		echo "no /var/lib/docker/containers here: the log store tails ./data/docker"; \
		export LOGS_LOG_SOURCES=./data/docker; fi; \
	exec $(BIN)/flowmon all

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: setup setup-browser setup-prometheus lint
	$(BIN)/pytest -q

bench: setup
	@for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules $(VENDOR)
