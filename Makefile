# amps: `make run` serves the demo library, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
MEDIA_DIR ?= media

.PHONY: install system-packages run test lint fuzz bench clean

install: system-packages $(STAMP)

# ffmpeg/ffprobe (and later Chromium for the browser tests) from the system's packages.
system-packages:
	@scripts/install-system-packages.sh

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: install
	$(BIN)/amps demo --if-empty --media-dir $(MEDIA_DIR)
	$(BIN)/amps serve --host $(HOST) --port $(PORT) --media-dir $(MEDIA_DIR)

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: install lint
	$(BIN)/pytest

bench: install
	@scripts/install-system-packages.sh bench
	$(BIN)/python bench/stream_vs_nginx.py
	$(BIN)/python bench/memory.py

clean:
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
