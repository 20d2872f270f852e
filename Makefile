# The two commands of the README, `make serve` and `make test`, and a few more.
# Every target sets up .venv first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The system packages the README names (Debian names); `make system-deps` installs them.
DEBIAN_PACKAGES := python3-venv python3-dev build-essential libev-dev
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test site book bench gevent-tests greenlet-tests system-deps clean

serve: $(STAMP)  ## build the web site and serve it on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(STAMP)  ## every test: conformance, walkthrough, both builds, notebooks
	$(BIN)/python -m pytest -n 2

site: $(STAMP)  ## the web site into site/
	$(BIN)/mkdocs build --strict

book: $(STAMP)  ## the book into _build/sphinx/
	$(BIN)/sphinx-build -W -c chapters -b html . _build/sphinx

bench: $(STAMP)  ## the benchmarks, ours against the references, as ratios
	$(BIN)/python -m benchmarks.ioloop
	$(BIN)/python -m benchmarks.coroutine
	$(BIN)/python -m benchmarks.libev
	$(BIN)/python -m benchmarks.greenlet
	$(BIN)/python -m benchmarks.hub

gevent-tests: $(STAMP)  ## gevent's own loop-level tests on each of our loops and gevent's
	$(BIN)/python -m coursetools.gevent_suite

greenlet-tests: $(STAMP)  ## greenlet's own API tests on each of our greenlets and the real one
	$(BIN)/python -m coursetools.greenlet_suite

system-deps:  ## as root on Debian: the system packages the README names
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEBIAN_PACKAGES)

clean:
	rm -rf $(VENV) site _build .cache build *.egg-info

# Reinstalled when the build inputs change, so an edited .pyx is compiled again.
$(STAMP): pyproject.toml setup.py $(wildcard impls/*/*.pyx impls/*/*.pxd impls/*/*.h)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Switchyard needs Python 3.11 or newer; set PYTHON=python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@
