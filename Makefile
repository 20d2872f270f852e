# The two commands of the README, `make serve` and `make test`, and a few more.
# Every target sets up .venv first, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The system packages the README names (Debian names); `make system-deps` installs them.
DEBIAN_PACKAGES := python3-venv python3-dev build-essential libev-dev wrk
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve test learn exercises-all test-without-extensions fuzz site book bench gevent-tests gevent-suite-whole greenlet-tests asyncio-tests tornado-tests stdlib-tests system-deps clean

serve: $(STAMP)  ## build the web site and serve it on http://127.0.0.1:8000
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

test: $(STAMP)  ## every test: conformance, walkthrough, both builds, notebooks
	$(BIN)/python -m pytest -n 2

learn: $(STAMP)  ## how to build it yourself: staged exercises graded by the conformance suite
	@echo "Build it yourself, stage by stage (chapters/build-it-yourself/index.md):"
	@echo "  $(BIN)/switchyard start ioloop     # a skeleton in mywork/ioloop/ (or scheduler, gen, aio, greenlet, libev, hub, primitives, monkey)"
	@echo "  $(BIN)/switchyard check --watch    # the stages in order, again on every save"
	@echo "  $(BIN)/switchyard hint             # stuck? one hint at a time"
	@echo "  $(BIN)/switchyard progress         # where you are, in every subject"
	@echo "  $(BIN)/switchyard check --capstone # after the last stage: the scenario programs on your code"
	@echo "Subjects, in the course's order: scheduler, ioloop, gen, aio, greenlet, libev, hub, primitives, monkey (tests/conformance/stages/)"

# `make test` checks every stage boundary of the scheduler and the IOLoop, and the skeleton
# and ours of the others; this checks every boundary of every subject, and every capstone
# (about a minute and a half of two cores).
exercises-all: $(STAMP)  ## every stage of every exercise subject, filled up to each k
	SWITCHYARD_EXERCISES_ALL=1 $(BIN)/python -m pytest -n 2 tests/test_exercises.py

# What a machine without libev's headers, or whose CPU or Python the stack switch does not
# support, or that has no C compiler, gets from `make test`: a copy of the working tree
# (tracked and new files, not ignored ones), built with every Cython extension switched
# off (setup.py's SWITCHYARD_WITHOUT; the hub then runs from its .py files), runs the
# whole suite. Every skip must then name its reason.
test-without-extensions:  ## `make test` as on a machine where no Cython extension builds
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	git ls-files -z --cached --others --exclude-standard | \
	    tar --null --files-from=- --ignore-failed-read -cf - | tar -xf - -C "$$dir" && \
	echo "switchyard: the suite on a copy built without the extensions, in $$dir" && \
	SWITCHYARD_WITHOUT="core stackswitch hub" $(MAKE) -C "$$dir" test PYTHON=$(PYTHON)

# Random programs, ours against the originals, with many more examples than `make test`
# runs and a random seed, printed first; `make fuzz SEED=N` runs the same programs again.
fuzz: $(STAMP)  ## the differential tests (tests/differential) with a large budget
	@seed=$${SEED:-$$($(BIN)/python -c 'import random; print(random.getrandbits(32))')}; \
	echo "switchyard: fuzzing with seed $$seed (again: make fuzz SEED=$$seed)"; \
	SWITCHYARD_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -n 2 tests/differential \
	    --hypothesis-seed=$$seed

site: $(STAMP)  ## the web site into site/
	$(BIN)/mkdocs build --strict

book: $(STAMP)  ## the book into _build/sphinx/
	$(BIN)/sphinx-build -W -c chapters -b html . _build/sphinx

bench: $(STAMP) build/loadgen  ## the benchmarks, ours against the references, as ratios
	$(BIN)/python -m benchmarks.ioloop
	$(BIN)/python -m benchmarks.coroutine
	$(BIN)/python -m benchmarks.aio
	$(BIN)/python -m benchmarks.libev
	$(BIN)/python -m benchmarks.greenlet
	$(BIN)/python -m benchmarks.hub
	$(BIN)/python -m benchmarks.c10k
	$(BIN)/python -m benchmarks.programs

# The load generator of benchmarks.c10k (which builds it too, on first use, if absent).
build/loadgen: benchmarks/loadgen.c
	@mkdir -p build
	$(CC) -O2 -Wall -o $@ $<

gevent-tests: $(STAMP)  ## gevent's own loop-level tests on each of our loops and gevent's
	$(BIN)/python -m coursetools.gevent_suite

gevent-suite-whole: $(STAMP)  ## gevent's whole suite on our loops, each beside its reference (6-7 min)
	$(BIN)/python -m coursetools.gevent_whole

greenlet-tests: $(STAMP)  ## greenlet's own API tests on each of our greenlets and the real one
	$(BIN)/python -m coursetools.greenlet_suite

asyncio-tests: $(STAMP)  ## CPython's own asyncio tests on our loop and on asyncio's (about a minute)
	$(BIN)/python -m coursetools.asyncio_suite

tornado-tests: $(STAMP)  ## tornado 6's whole suite on our loop and on asyncio's (about a minute)
	$(BIN)/python -m coursetools.tornado_suite

stdlib-tests: $(STAMP)  ## CPython's own tests under our monkey patch and under gevent's
	$(BIN)/python -m coursetools.stdlib_suite

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
