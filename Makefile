# PodDesk: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test venv install migrate seed check clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv install: $(VENV)/.installed

## The whole product on this machine: SQLite file, simulators, demo data, http://127.0.0.1:5000
run: install
	$(BIN)/python -m webapp.embedded

## The whole test suite against PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL)
test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## Apply migrations to DATABASE_URL (PODDESK_ENV picks the profile)
migrate: install
	$(BIN)/flask db upgrade

seed: install
	$(BIN)/flask seed-demo

## Autogenerate finds nothing missing between the models and the migrations
check: install
	PODDESK_ENV=testing $(BIN)/flask db check

## Benchmarks (PostgreSQL, Redis, wrk; several minutes, needs the whole machine): writes bench/RESULTS.md
bench: install
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache artifacts
