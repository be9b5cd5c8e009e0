# Two entry points: `make demo` (runs the demo, no services needed) and `make test`
# (the whole suite; needs PostgreSQL and Redis, see README.md). Only python3 is required.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the package definition changes.
INSTALLED := $(VENV)/.installed
DEMO_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/demo.db
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: demo test install clean-demo

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing loyalty-loop and its dev dependencies into $(VENV)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# The demo: SQLite under instance/, no Redis (jobs run inline), the dev server.
DEMO_ENV := env -u REDIS_URL DATABASE_URL='$(DEMO_DATABASE_URL)' APP_URL="$${APP_URL:-http://$(HOST):$(PORT)}"

demo: $(INSTALLED)
	@mkdir -p instance
	$(DEMO_ENV) $(BIN)/loyalty db upgrade
	$(DEMO_ENV) $(BIN)/loyalty demo
	$(DEMO_ENV) $(BIN)/loyalty serve --host $(HOST) --port $(PORT)

test: $(INSTALLED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-demo:
	rm -f instance/demo.db instance/demo.db-wal instance/demo.db-shm
