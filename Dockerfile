# syntax=docker/dockerfile:1
# Build stage: a wheel of amps and its dependencies, so the runtime image has no compiler or pip cache.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: ffmpeg for probing, a non-root user, the library in a volume.
FROM python:3.11-slim-bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data amps \
    && mkdir -p /data && chown amps /data
COPY static /app/static
USER 10001
WORKDIR /app
# granian: faster than uvicorn on byte ranges in `make bench`; AMPS_WORKERS adds processes.
ENV AMPS_MEDIA_DIR=/data AMPS_STATIC_DIR=/app/static AMPS_HOST=0.0.0.0 AMPS_PORT=8000 \
    AMPS_SERVER=granian
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["amps", "serve"]
