# syntax=docker/dockerfile:1
# The base image: any Debian bookworm with python3 (3.11), venv and pip. The tests build from a
# local one (tests/test_docker_image.py); the default is Python's official slim image.
ARG BASE=python:3.11-slim-bookworm

# Build stage: wheels of amps and its dependencies, so the runtime image has no compiler or pip
# cache. Dependencies first, from pyproject.toml alone (over a stub package): a change to app/
# or the README then rebuilds, and adds to the image, only amps's own small wheel.
FROM ${BASE} AS build
WORKDIR /src
RUN python3 -m venv /opt/build
COPY pyproject.toml constraints.txt ./
# pip's cache survives between builds (not in the image).
RUN --mount=type=cache,target=/root/.cache/pip \
    mkdir app && touch app/__init__.py README.md \
    && /opt/build/bin/pip wheel --constraint constraints.txt --wheel-dir /wheels . \
    && rm -rf /wheels/amps-*.whl app README.md build ./*.egg-info
COPY README.md ./
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/build/bin/pip wheel --no-deps --wheel-dir /amps .

# Runtime stage: ffmpeg for probing, espeak-ng for the aligner's pronunciations of words its
# dictionary lacks (and `amps demo`'s spoken clip), amps in a virtualenv, a non-root user, the
# library in a volume.
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg espeak-ng \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN python3 -m venv /opt/amps \
    && /opt/amps/bin/pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data amps \
    && mkdir -p /data && chown amps /data
COPY --from=build /amps /amps
RUN /opt/amps/bin/pip install --no-cache-dir --no-index --no-deps /amps/* && rm -rf /amps
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
