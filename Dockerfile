# syntax=docker/dockerfile:1
# moodstream: CPU-only image by default. Build from the repository root:
#   docker build -t moodstream:local .
# The GPU image (deploy/k8s/gpu, MODELS__PAT_DEVICE=cuda): torch's CUDA wheel and the CUDA
# libraries it depends on, from a PyTorch CUDA index (the cuXYZ your nodes' driver supports):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#     --build-arg TORCH_PIP_FLAGS= -t moodstream:gpu .
# Run: docker run --rm -e MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS=host:9092 -p 9400:9400 moodstream:local

# The base image pinned by digest (python:3.11-slim, the multi-arch index digest), so a
# rebuild gets the same OS and interpreter. Refresh: docs/development.md "Reproducible environment and image".
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
# --no-deps for the CPU wheel (its pure-Python dependencies are in the lock); empty for the
# CUDA wheel, whose nvidia-* libraries come from the same index.
ARG TORCH_PIP_FLAGS=--no-deps

# ---- builder: a venv from the lock files, CPU torch, the project; models verified ----
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_INDEX
ARG TORCH_PIP_FLAGS
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# Every runtime dependency at the pin `make test` ran with, each file's sha256 checked
# (requirements/runtime.txt; dev.txt, which make installs, has the same pins). torch
# is the exception: the CPU-only wheel from TORCH_INDEX at requirements/torch.txt's
# version (its files differ from PyPI's CUDA wheel, so no hash); its pure-Python
# dependencies are already in the lock, hence --no-deps.
COPY requirements/runtime.txt requirements/torch.txt requirements/
RUN pip install --require-hashes -r requirements/runtime.txt \
 && pip install ${TORCH_PIP_FLAGS} --index-url "${TORCH_INDEX}" -r requirements/torch.txt

# --no-build-isolation: built with the locked setuptools already in the venv, not one
# fetched unpinned for an isolated build.
COPY . .
RUN pip install --no-deps --no-build-isolation . \
 && pip check \
 && python -c "import consumer, schemas, torch, xgboost, onnxruntime, confluent_kafka, prometheus_client"
# Ship the committed demo models, or train them here (deterministic, a few minutes);
# then load and verify every file's sha256 against the manifest with the start-up code.
RUN test -f models/demo/manifest.json \
 || MOODSTREAM_MODELS__DIR=/src/models/demo moodstream models build-demo
RUN MOODSTREAM_MODELS__DIR=/src/models/demo moodstream models info

# ---- runtime ----
FROM ${PYTHON_IMAGE}
# libgomp: OpenMP runtime for XGBoost on slim images.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 moodstream \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin moodstream
# MALLOC_MMAP_THRESHOLD_: glibc hands PAT's large activation buffers back to the OS
# instead of keeping them in each worker's heap (measured ~154 -> ~87 MB private memory
# per worker after PAT runs).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MOODSTREAM_MODELS__DIR=/app/models/demo \
    MALLOC_MMAP_THRESHOLD_=131072
COPY --from=builder /opt/venv /opt/venv
# Owned by root, readable by all: the service cannot modify its own models.
COPY --from=builder /src/models/demo /app/models/demo
WORKDIR /app
USER 10001:10001
# The shipped image itself: dependencies consistent, every model checksum verified by
# the same code the service runs at start-up (a failure fails the build).
RUN pip check && moodstream models info > /dev/null
EXPOSE 9400
# Liveness of the supervisor (the same /healthz Kubernetes probes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MOODSTREAM_OBSERVABILITY__PORT', '9400'), timeout=4)"]
ENTRYPOINT ["moodstream"]
CMD ["run", "--workers", "2"]
