# moodstream: `make demo` (fresh clone to predictions on screen) and `make test`.
#
# The virtual environment lives outside the clone and is reused; it is refreshed when
# pyproject.toml changes (a stamp file keyed on its hash). `xgboost-cpu` is installed
# in place of `xgboost` (same module, without the 469 MB NCCL wheel): the requirements
# are generated from pyproject.toml with that swap, then the project is installed with
# --no-deps so pip never pulls the `xgboost` distribution back in.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= $(HOME)/.cache/moodstream/venv
PY = $(VENV)/bin/python
MOODSTREAM = $(VENV)/bin/moodstream
# torch wheel source for a fresh venv (CPU-only build); empty = PyPI's default wheel
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
EXTRAS ?= test bench dev
PYTEST_ARGS ?=

# Keyed on pyproject.toml and on this checkout's path: the editable install must point
# at the clone being tested (CI tests a fresh clone with the same shared venv).
PYPROJECT_HASH := $(shell (cat pyproject.toml; echo "$(CURDIR)") | sha256sum | cut -c1-16)
STAMP = $(VENV)/.moodstream-$(PYPROJECT_HASH).stamp
REQUIREMENTS = $(VENV)/moodstream-requirements.txt

# pyproject.toml's dependencies + extras, with xgboost swapped for xgboost-cpu
define REQUIREMENTS_PY
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
reqs = list(project["dependencies"])
for extra in sys.argv[1:]:
    reqs += project["optional-dependencies"][extra]
print("\n".join(re.sub(r"^xgboost(?![-\w])", "xgboost-cpu", r) for r in reqs))
endef
export REQUIREMENTS_PY

.PHONY: help venv tools test fuzz-long broker-start broker-stop lint demo bench clean

help:
	@echo "make demo          everything from a fresh clone to predictions on screen"
	@echo "make test          the whole test suite against a real local Kafka broker"
	@echo "make venv          create/refresh $(VENV)"
	@echo "make tools         install prometheus + promtool (Debian package) where missing"
	@echo "make broker-start  start the local Kafka broker (make broker-stop to stop it)"
	@echo "make lint          ruff + mypy"
	@echo "make fuzz-long     the decoder fuzz tests at 5,000 examples per property"
	@echo "make bench         benchmarks (see BENCHMARKS.md)"
	@echo "make clean         remove caches and build outputs (keeps the venv and the jars)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || \
	  $(PY) -m pip install -q torch $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) || \
	  $(PY) -m pip install -q torch
	$(PY) -c "$$REQUIREMENTS_PY" $(EXTRAS) > $(REQUIREMENTS)
	$(PY) -m pip install -q -r $(REQUIREMENTS)
	$(PY) -m pip install -q --no-deps -e .
	rm -f $(VENV)/.moodstream-*.stamp
	touch $@

# prometheus and promtool for the rule tests and the real-Prometheus test (Debian's
# `prometheus` package, 2.42; apt-get needs root, as in CI). The package's own service is
# never left running: the tests start their own Prometheus on a free port.
tools:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
	  echo "prometheus: $$(command -v prometheus), promtool: $$(command -v promtool)"; \
	else \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  if command -v systemctl >/dev/null; then systemctl disable --now prometheus 2>/dev/null || true; fi; \
	  if command -v service >/dev/null; then service prometheus stop >/dev/null 2>&1 || true; fi; \
	fi

# The kafka_bootstrap fixture starts the local broker when none runs and stops it at the
# end of the session; a broker you started yourself (make broker-start) is left running.
test: venv
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

# The decoder fuzz tests with many more examples (CI runs 300 per property).
fuzz-long: venv
	MOODSTREAM_FUZZ_EXAMPLES=$${MOODSTREAM_FUZZ_EXAMPLES:-5000} $(PY) -m pytest -q \
	  tests/unit/test_decode_fuzz.py --hypothesis-show-statistics

broker-start: venv
	$(MOODSTREAM) broker start

broker-stop: venv
	$(MOODSTREAM) broker stop

lint: venv
	$(VENV)/bin/ruff check consumer schemas tests
	$(VENV)/bin/mypy

demo: venv
	$(MOODSTREAM) demo

bench: venv
	$(MOODSTREAM) bench $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis bench-results
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
