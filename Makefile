# The same commands run locally and in .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 9001
#: what a sandbox's outer process and pid 1 exec once it is set up (docs/scaling.md, "Density")
WAITER := src/nimbus/instances/native/nimbus-sandbox-wait

.PHONY: install python-sdk node-sdk compiled run test test-compiled lint bench clean

$(BIN)/nimbus: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Nimbus needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV) || { echo "python venv failed: on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(BIN)/nimbus

# the AWS SDKs the runtimes include (src/nimbus/runtimes/sdk.py): boto3 for Python always, the AWS SDK for
# JavaScript v3 when npm is here (not an error without Node.js). Each redone only when its pins' content changes.
SDK := $(VENV)/share/nimbus/runtime-sdk
PY_SDK_PINS := src/nimbus/runtimes/python-sdk-requirements.txt
NODE_SDK_PINS := src/nimbus/runtimes/nodejs/sdk

python-sdk: | $(BIN)/nimbus
	@cmp -s $(PY_SDK_PINS) $(SDK)/python/.pins || { rm -rf $(SDK)/python && \
		$(BIN)/pip install --quiet --no-deps --only-binary :all: --target $(SDK)/python -r $(PY_SDK_PINS) && \
		cp $(PY_SDK_PINS) $(SDK)/python/.pins; }

node-sdk: | $(BIN)/nimbus
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "no npm here: Node.js functions get no AWS SDK (install nodejs and npm, then make install)"; \
	elif ! cmp -s $(NODE_SDK_PINS)/package-lock.json $(SDK)/nodejs/package-lock.json; then \
		rm -rf $(SDK)/nodejs && mkdir -p $(SDK)/nodejs && \
		cp $(NODE_SDK_PINS)/package.json $(NODE_SDK_PINS)/package-lock.json $(SDK)/nodejs/ && \
		cd $(SDK)/nodejs && { npm ci --quiet --ignore-scripts --no-audit --no-fund --omit=dev || { rm -f package-lock.json; exit 1; }; }; \
	fi

install: $(BIN)/nimbus python-sdk node-sdk $(WAITER) compiled

# the warm path's hot modules compiled with mypyc (src/nimbus/compiled.py), rebuilt whenever one of their sources
# changes; where that cannot build (no cc, no Python.h, a mypyc error) it says so and everything runs pure Python
compiled: | $(BIN)/nimbus
	@NIMBUS_PURE_PYTHON=1 PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python -m nimbus.compiled_build

# static where libc.a is there, else dynamic; without a C compiler, sandboxes keep their Python waiters
$(WAITER): src/nimbus/instances/native/sandbox_wait.c
	@$(CC) -O2 -static -Wall -Wextra -o $@ $< 2>/dev/null || $(CC) -O2 -Wall -Wextra -o $@ $< || \
		echo "nimbus: could not build $@ (no C compiler?): sandboxes keep their Python waiters"

run: install
	$(BIN)/nimbus serve --host 127.0.0.1 --port $(PORT) --deploy examples

# coverage sees Python only: this run loads the pure modules, and tests/test_compiled.py runs the warm path's tests
# again on the compiled ones
test: install
	NIMBUS_PURE_PYTHON=1 $(BIN)/python -m pytest -q --cov --cov-report=term

# the whole suite on the compiled build, as production runs (no coverage: it cannot see compiled code). Not in CI,
# which keeps to one ~10 min run of the suite: run it by hand after changing a compiled module or the set (its first
# run found a compiled-only bug in validation messages)
test-compiled: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/warm_invoke.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info $(WAITER) src/nimbus/_compiled.json
	find src -name '*.so' -delete  # mypyc's: src/nimbus/compiled.py
