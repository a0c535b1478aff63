# syntax=docker/dockerfile:1
# The Telegram bot: python-telegram-bot and core only, no TensorFlow (the workers classify).
# Build from the repository root:  docker build -f docker/bot.Dockerfile -t creature-vis-bot .
#
# Base image pinned by exact version tag. To pin by digest as well, run
#   docker buildx imagetools inspect python:3.11.11-slim-bookworm
# and append "@sha256:<digest>" to both FROM lines (no digest is written here because none
# could be verified from this offline workshop).
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# Exact versions with their hashes first (`make lock`), so this layer is rebuilt only when
# the lock changes; the project then goes on top without dependencies.
COPY requirements/bot.txt ./requirements/bot.txt
RUN /opt/venv/bin/pip install "pip==26.3" \
    && /opt/venv/bin/pip install --require-hashes -r requirements/bot.txt
COPY pyproject.toml README.md ./
COPY core ./core
COPY bot ./bot
COPY cli ./cli
COPY workers ./workers
COPY model_server ./model_server
COPY retraining ./retraining
COPY monitoring ./monitoring
RUN /opt/venv/bin/pip install --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CREATURE_VIS_DATA_DIR=/data
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app \
    && install -d -o app -g app /data
COPY --from=build /opt/venv /opt/venv
COPY docker/probe.py /app/probe.py
USER 10001:10001
WORKDIR /home/app
# Webhook mode (Cloud Run) listens on CREATURE_VIS_BOT__WEBHOOK_URL's port; polling mode
# listens on none, so the check is that the broker the bot enqueues to answers.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "/app/probe.py", "redis"]
CMD ["python", "-m", "bot"]
