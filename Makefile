# The same commands run locally and in .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 9001

.PHONY: install run test lint bench clean

$(BIN)/nimbus: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Nimbus needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV) || { echo "python venv failed: on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(BIN)/nimbus

install: $(BIN)/nimbus

run: install
	$(BIN)/nimbus serve --host 127.0.0.1 --port $(PORT) --deploy examples

test: install
	$(BIN)/python -m pytest -q --cov --cov-report=term

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/warm_invoke.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
