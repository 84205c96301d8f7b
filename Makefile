# Two commands for a newcomer: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MCU_VAR_DIR ?= $(CURDIR)/var

.PHONY: run test lint venv kafka-start kafka-stop clean

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

## run: local Kafka + one worker on the embedded ClickHouse, a demo batch and live counts
run: venv kafka-start
	PATH="$(CURDIR)/$(BIN):$$PATH" deploy/run.sh

## test: the whole suite, unit and integration, against a real local broker
test: venv kafka-start
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: kafka-stop
	rm -rf var
