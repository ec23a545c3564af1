# syntax=docker/dockerfile:1
# The base image: any Debian bookworm with python3 (3.11), venv and pip. The tests build from a
# local one (tests/test_docker_image.py); the default is Python's official slim image.
ARG BASE=python:3.11-slim-bookworm

# Build stage: a wheel of amps and its dependencies, so the runtime image has no compiler or pip cache.
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# pip's cache survives between builds (not in the image): a change to app/ re-downloads nothing.
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m venv /opt/build \
    && /opt/build/bin/pip wheel --wheel-dir /wheels .

# Runtime stage: ffmpeg for probing, amps in a virtualenv, a non-root user, the library in a volume.
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN python3 -m venv /opt/amps \
    && /opt/amps/bin/pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data amps \
    && mkdir -p /data && chown amps /data
COPY static /app/static
USER 10001
WORKDIR /app
# granian: see README, Serving; AMPS_WORKERS adds processes.
ENV PATH=/opt/amps/bin:$PATH \
    AMPS_MEDIA_DIR=/data AMPS_STATIC_DIR=/app/static AMPS_HOST=0.0.0.0 AMPS_PORT=8000 \
    AMPS_SERVER=granian
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["amps", "serve"]
