# Two entry points for a fresh machine (Python 3.11 + pip): `make demo` and `make test`.
# Each creates .venv if needed and installs edgeiqa from this checkout with its extras.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint clean c-example

$(BIN)/edgeiqa: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[train,export,dev,lite]"
	touch $(BIN)/edgeiqa

install: $(BIN)/edgeiqa

demo: install
	$(BIN)/edgeiqa demo --out edgeiqa-demo

test: install
	$(BIN)/python -m pytest -q

# The C reference consumer against the default bundle (examples/c; skips without cc or npm).
c-example: install
	$(MAKE) -C examples/c BUNDLE=$(CURDIR)/engines/edgeiqa-default PYTHON=$(CURDIR)/$(BIN)/python \
	    OUT=$(CURDIR)/examples/c/build/edgeiqa_score

lint: install
	$(BIN)/ruff check edgeiqa runtime train export tests benchmarks

clean:
	rm -rf $(VENV) edgeiqa-demo .pytest_cache
