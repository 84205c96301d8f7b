# Two commands for a newcomer: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MCU_VAR_DIR ?= $(CURDIR)/var
# deploy/clickhouse.sh runs the local ClickHouse server with this venv's chdb-core engine.
export MCU_PYTHON ?= $(CURDIR)/$(BIN)/python

.PHONY: run test test-fast lint imports venv kafka-start kafka-stop clickhouse-start clickhouse-stop clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

kafka-start:
	deploy/kafka.sh start

kafka-stop:
	deploy/kafka.sh stop

clickhouse-start: venv
	deploy/clickhouse.sh start

clickhouse-stop:
	deploy/clickhouse.sh stop

## run: local Kafka + local ClickHouse server + one worker, a demo batch and live counts
run: venv kafka-start clickhouse-start
	PATH="$(CURDIR)/$(BIN):$$PATH" deploy/run.sh

## test: the whole suite, unit and integration, against the real local broker and ClickHouse server
## (each integration test gets its own database on the server make started, its own topic prefix
## and consumer group, so two pytest processes share them; a file's tests stay in one process)
test: venv kafka-start clickhouse-start
	MCU_IT_CLICKHOUSE_URL=http://127.0.0.1:$${MCU_CLICKHOUSE_HTTP_PORT:-8123} $(BIN)/pytest -n 2 --dist loadfile

## test-fast: the unit tests only (tests/unit): pure functions, chdb and loopback peers, no broker or server
test-fast: venv
	$(BIN)/pytest tests/unit -m "not kafka"

## imports: the layer contract of pyproject.toml ([tool.importlinter]; docs/architecture.md)
imports: venv
	$(BIN)/lint-imports

lint: imports
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: kafka-stop clickhouse-stop
	rm -rf var
