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

.PHONY: install browser postgres demo test bench lint clean

install: $(STAMP)

# torch first, pinned to the CPU build on this disk: anything that pulls torch later sees
# it satisfied and never fetches a multi-GB CUDA build. The ray extra (--ray, docs/scaling.md)
# is installed too, so the tests of the Ray path run.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

# The demo's promotions rewrite the committed model cards (models/README.md).
demo: install
	PAPERREC_MODEL_CARDS=$${PAPERREC_MODEL_CARDS:-$(CURDIR)/models/cards} $(BIN)/python training/demo.py

# tests/test_digest_chromium.py renders the digest and tests/test_web_browser.py drives the
# web app (through Playwright) in Debian's headless Chromium. Installed
# here once, with apt-get (as root or through sudo), only when it is missing; without apt-get
# or when the install fails, that test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    echo "installing chromium for the digest's browser test (apt-get)"; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-color-emoji \
	    || { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
	         apt-get install -y chromium fonts-noto-color-emoji; } \
	    || echo "could not install chromium: tests/test_digest_chromium.py will skip"; \
	  else echo "no chromium and no apt-get: tests/test_digest_chromium.py will skip"; fi; }

# The store's tests run on SQLite and on a throwaway PostgreSQL server that they start
# themselves (tests/postgres_helpers.py) from Debian's server binaries, installed here once
# with apt-get when missing; without them those tests skip on PostgreSQL and say why.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1; then \
	    sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    echo "installing postgresql for the store's PostgreSQL tests (apt-get)"; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql \
	    || { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive \
	         apt-get install -y postgresql; } \
	    || echo "could not install postgresql: the PostgreSQL tests will skip"; \
	  else echo "no PostgreSQL and no apt-get: the PostgreSQL tests will skip"; fi; }

# Two worker processes (pytest-xdist), each test file in one of them so that a module's
# server starts once; PYTEST_ARGS="-n 0" runs everything in one process.
test: install browser postgres
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check src tests bench training service

clean:
	rm -rf $(VENV) .paperrec
