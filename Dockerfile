# syntax=docker/dockerfile:1
# moodstream: CPU-only image. Build from the repository root:
#   docker build -t moodstream:local .
# Run: docker run --rm -e MOODSTREAM_KAFKA__BOOTSTRAP_SERVERS=host:9092 -p 9400:9400 moodstream:local

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: a venv with CPU torch, xgboost-cpu, the project, and the demo models ----
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_SPEC="torch>=2.3"
ARG XGBOOST_SPEC="xgboost-cpu>=2.1"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src

# The big, rarely changing layer: CPU-only wheels (no CUDA, no NCCL).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "${TORCH_SPEC}" \
 && pip install "${XGBOOST_SPEC}"

# The other runtime dependencies, read from pyproject.toml. torch and xgboost are
# skipped: the CPU builds above provide those modules (the "xgboost" distribution
# would pull the CUDA/NCCL wheels back in).
COPY pyproject.toml ./
RUN python -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if re.split(r'[<>=!~;\[ ]', d)[0].lower() not in {'torch', 'xgboost'}))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
 && python -c "import consumer, schemas, torch, xgboost, confluent_kafka, prometheus_client"
# Ship the committed demo models, or train them here (deterministic, a few minutes).
RUN test -f models/demo/manifest.json \
 || MOODSTREAM_MODELS__DIR=/src/models/demo moodstream models build-demo

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
EXPOSE 9400
# Liveness of the supervisor (the same /healthz Kubernetes probes).
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MOODSTREAM_OBSERVABILITY__PORT', '9400'), timeout=4)"]
ENTRYPOINT ["moodstream"]
CMD ["run", "--workers", "2"]
