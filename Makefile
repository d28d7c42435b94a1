# The two commands a newcomer runs (see README):
#   make demo   set up the virtual environment and run the main job on embedded defaults
#   make test   set up the same way and run the whole test suite
# Both are idempotent: the environment is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PAPERREC_HOME ?= $(CURDIR)/.paperrec
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test bench lint clean

install: $(STAMP)

# torch first, pinned to the CPU build on this disk: anything that pulls torch later sees
# it satisfied and never fetches a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/python training/demo.py

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check src tests bench training service

clean:
	rm -rf $(VENV) .paperrec
