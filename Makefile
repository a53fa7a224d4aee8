# moodstream: `make demo` (fresh clone to predictions on screen) and `make test`.
#
# One environment outside the clone ($(VENV)) holds the heavy dependencies (torch,
# xgboost, onnxruntime...) and is shared by every clone. The project itself is never
# installed into it: every target runs THIS clone's code with PYTHONPATH=$(CURDIR), and
# `./moodstream` (or `make shell`) does the same by hand, so two clones never run each
# other's code. The environment is installed from the lock files in requirements/ (every
# file's hash checked, the same pins the image uses) and refreshed when they change (a
# stamp keyed on their hash). `make lock` regenerates them from pyproject.toml.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= $(HOME)/.cache/moodstream/venv
PY = $(VENV)/bin/python
RUN = PYTHONPATH=$(CURDIR) $(PY)
MOODSTREAM = $(RUN) -m consumer
# torch for a fresh venv: this index first (CPU-only build, ~200 MB; no retries, 5 s
# timeout, so an unreachable index costs seconds), then PyPI's default (CUDA) wheel.
# Empty: PyPI only. The version is requirements/torch.txt's either way.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements/torch.txt)
LOCK = requirements/dev.txt
LOCK_HASH := $(shell cat requirements/torch.txt $(LOCK) | sha256sum | cut -c1-16)
STAMP = $(VENV)/.moodstream-lock-$(LOCK_HASH).stamp
UV_VERSION = 0.13.9
PYTEST_ARGS ?= --durations=30

.PHONY: help venv lock shell tools test fuzz-long broker-start broker-stop lint demo bench bench-peers soak chaos clean

help:
	@echo "make demo          everything from a fresh clone to predictions on screen"
	@echo "make test          the whole test suite against a real local Kafka broker"
	@echo "make venv          create/refresh $(VENV) from the lock files"
	@echo "make shell         a shell where \`moodstream\` is this clone's (also: ./moodstream)"
	@echo "make lock          regenerate requirements/*.txt from pyproject.toml (UPGRADE=1: newest)"
	@echo "make tools         install prometheus + promtool (Debian package), kustomize (Go) where missing"
	@echo "make broker-start  start the local Kafka broker (make broker-stop to stop it)"
	@echo "make lint          ruff format --check, ruff check, mypy --strict (code and tests)"
	@echo "make fuzz-long     the decoder fuzz tests at 5,000 examples per property"
	@echo "make bench         benchmarks (see BENCHMARKS.md)"
	@echo "make bench-peers   the scoring job in moodstream, Arroyo, Quix Streams (PEERS_ARGS)"
	@echo "make soak          20-minute soak with activity bursts: memory and lag plotted"
	@echo "make chaos         every broker and network fault on a local 3-node cluster (RELIABILITY.md)"
	@echo "make clean         remove caches and build outputs (keeps the venv and the jars)"

venv: $(STAMP)

# Locked packages first (hashes required), then torch at its pinned version: its pure-
# Python dependencies are already there from the lock, so only torch (and, from PyPI, its
# CUDA stack) is added. The CPU-only index is tried first; when it is unreachable, pip's
# own errors are replaced by one line saying torch comes from PyPI instead. An editable install of some clone left by an older Makefile is
# removed: its `moodstream` script would run that clone's code.
$(STAMP): requirements/torch.txt $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --require-hashes -r $(LOCK)
	$(PY) -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$(TORCH_VERSION)')" \
	  2>/dev/null || \
	  $(if $(TORCH_INDEX),{ $(PY) -m pip install -q --timeout 5 --retries 0 \
	    --index-url $(TORCH_INDEX) -r requirements/torch.txt 2>/dev/null || \
	    { echo "torch $(TORCH_VERSION): $(TORCH_INDEX) unreachable: installing from PyPI"; \
	      false; }; } ||) \
	  $(PY) -m pip install -q -r requirements/torch.txt
	if $(PY) -m pip show -q moodstream >/dev/null 2>&1; then \
	  $(PY) -m pip uninstall -q -y moodstream; fi
	$(PY) -m pip check
	rm -f $(VENV)/.moodstream-*.stamp
	touch $@

# Keeps every pin that still satisfies pyproject.toml and adds what is new; UPGRADE=1
# moves every pin to the newest allowed. Then `make venv` installs the result.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(PY) -m pip install -q "uv==$(UV_VERSION)"
	$(PY) requirements/lock.py $(VENV)/bin/uv $(if $(UPGRADE),--upgrade)

# This clone's `moodstream` (and python) first on PATH; `exit` to leave.
shell: venv
	@echo "moodstream runs $(CURDIR) with $(VENV); exit to leave"
	@PATH="$(CURDIR):$(VENV)/bin:$$PATH" PYTHONPATH=$(CURDIR) VENV=$(VENV) $${SHELL:-/bin/bash}

# prometheus and promtool for the rule tests and the real-Prometheus test (Debian's
# `prometheus` package, 2.42; apt-get needs root, as in CI). The package's own service is
# never left running: the tests start their own Prometheus on a free port.
# kustomize for the deploy/k8s build tests: kustomize or kubectl on PATH, else built from
# the Go module proxy into $(KUSTOMIZE) (tests/unit/deploy/render.py looks there too).
KUSTOMIZE ?= $(HOME)/.cache/moodstream/bin/kustomize
KUSTOMIZE_VERSION = v5.5.0
tools:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
	  echo "prometheus: $$(command -v prometheus), promtool: $$(command -v promtool)"; \
	else \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  if command -v systemctl >/dev/null; then systemctl disable --now prometheus 2>/dev/null || true; fi; \
	  if command -v service >/dev/null; then service prometheus stop >/dev/null 2>&1 || true; fi; \
	fi
	@if command -v kustomize >/dev/null || test -x $(KUSTOMIZE) || command -v kubectl >/dev/null; then \
	  echo "kustomize: $$(command -v kustomize || (test -x $(KUSTOMIZE) && echo $(KUSTOMIZE)) || echo kubectl kustomize)"; \
	else \
	  GOBIN=$(dir $(KUSTOMIZE)) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); \
	fi

# The kafka_bootstrap fixture starts the local broker when none runs and stops it at the
# end of the session; a broker you started yourself (make broker-start) is left running.
test: venv
	$(RUN) -m pytest -q $(PYTEST_ARGS) tests

# The decoder fuzz tests with many more examples (CI runs 300 per property).
fuzz-long: venv
	MOODSTREAM_FUZZ_EXAMPLES=$${MOODSTREAM_FUZZ_EXAMPLES:-5000} $(RUN) -m pytest -q \
	  tests/unit/intake/test_decode_fuzz.py --hypothesis-show-statistics

broker-start: venv
	$(MOODSTREAM) broker start

broker-stop: venv
	$(MOODSTREAM) broker stop

lint: venv
	$(RUN) -m ruff format --check consumer schemas tests requirements
	$(RUN) -m ruff check consumer schemas tests requirements
	$(RUN) -m mypy

# Both stages: 2,000 synthetic events, and minute samples of 20 users through the windows
# stage (weeks assembled from minutes, scored with their coverage).
demo: venv
	$(MOODSTREAM) demo --samples 20

bench: venv
	$(MOODSTREAM) bench $(BENCH_ARGS)

# moodstream against Arroyo and Quix Streams (BENCHMARKS.md, "Against the peers"); the
# peers' venvs are made under ~/.cache/moodstream/peers on first use (PyPI, ~1 minute).
# Its smoke test is opt-in, never part of `make test`:
# MOODSTREAM_BENCH_PEERS=1 pytest tests/e2e/test_bench_peers.py
PEERS_ARGS ?= --rounds 3 --events 40000
bench-peers: venv
	$(MOODSTREAM) bench --peers $(PEERS_ARGS)

# 20 minutes of mixed load at 80 % of capacity with activity bursts every 3 minutes (not
# in CI): worker memory and lag over time in bench-results/soak/soak.png and soak.json.
soak: venv
	$(RUN) -m consumer.bench.soak $(SOAK_ARGS)

# Every process and network fault, both guarantees, the default group protocol;
# CHAOS_ARGS="--group-protocol both" for both; CHAOS_FAULTS=process or network for one kind.
CHAOS_FAULTS ?= all
chaos: venv
	$(MOODSTREAM) chaos --faults $(CHAOS_FAULTS) --out chaos-results.json $(CHAOS_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis bench-results \
	  chaos-logs chaos-results.json
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
