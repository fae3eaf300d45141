# The two entry points of the README: `make run` and `make test`.
# Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
RUN    ?= runs/tragedies
CORPUS ?= tragedies

.PHONY: run test test-fast bench faults clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[corpus]"
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[corpus,test]"
	touch $@ $(VENV)/.run-deps

$(VENV)/.bench-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[corpus,bench]"
	touch $@ $(VENV)/.run-deps

# The seed's experiment on the default corpus: gradient check, a sample from
# the untrained network, 100,000 AdaGrad updates, then the report.
# Run it again to continue an interrupted run (a finished one is left as it is).
run: $(VENV)/.run-deps
	$(BIN)/charnn gradcheck $(CORPUS)
	$(BIN)/charnn sample --untrained $(CORPUS) --seed 1 --length 200
	if [ -f $(RUN)/config.json ] || [ -f $(RUN)/checkpoint.npz ]; then \
	  $(BIN)/charnn train --resume $(RUN) --report; \
	else \
	  $(BIN)/charnn train $(CORPUS) --out $(RUN) --report; \
	fi

# The whole suite, slow tests included, after the linters.
test: $(VENV)/.test-deps
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/python -m pytest

bench: $(VENV)/.bench-deps
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python bench/bench_speed.py

# The suite without the tests marked slow, for a quick check while editing.
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest -m "not slow"

faults: $(VENV)/.test-deps
	$(BIN)/python tools/kill_trials.py --trials 20

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
