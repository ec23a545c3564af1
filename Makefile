# amps: `make run` serves the demo library, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm ci writes it last: older than package-lock.json means node_modules is out of date.
NODE_STAMP := node_modules/.package-lock.json
HOST ?= 127.0.0.1
PORT ?= 8000
MEDIA_DIR ?= media
# granian: faster than uvicorn on byte ranges and on the download link in `make bench` (README, Serving).
SERVER ?= granian

.PHONY: install system-packages run test lint fuzz bench clean

PLAYER_BUNDLE := static/build/player.js

install: system-packages $(STAMP) $(NODE_STAMP) $(PLAYER_BUNDLE)

# ffmpeg/ffprobe, Chromium and npm from the system's packages.
system-packages:
	@scripts/install-system-packages.sh

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet pip==26.3
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

# axe-core for the browser tests; esbuild bundles the player; Plyr and media-chrome only as baselines for bench/payload_size.py.
# No package needs an install script (all ship built files), so none runs.
$(NODE_STAMP): package-lock.json | system-packages
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(NODE_STAMP)

# The player's modules in one script (esbuild from node_modules); rebuilt when any module changes.
$(PLAYER_BUNDLE): $(wildcard static/player/*.js) scripts/build-player.sh $(NODE_STAMP)
	scripts/build-player.sh

run: install
	$(BIN)/amps demo --if-empty --media-dir $(MEDIA_DIR)
	$(BIN)/amps serve --host $(HOST) --port $(PORT) --media-dir $(MEDIA_DIR) --server $(SERVER)

lint: install
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

test: install lint
	$(BIN)/pytest

# The fuzz tests of `make test` with FUZZ_SCALE times their examples (tens of minutes),
# plus the range and caption fuzzers at their own counts; no per-test timeout.
FUZZ_SCALE ?= 10
fuzz: install
	FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/pytest -o timeout=0 --hypothesis-show-statistics \
	  tests/test_fuzz.py tests/test_schemathesis.py \
	  tests/test_streaming.py tests/test_captions.py -k "fuzz or random or truncated or every_operation or any_upload or if_none_match"

bench: install
	@scripts/install-system-packages.sh bench
	$(BIN)/python bench/performance.py
	$(BIN)/python bench/full_download.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/payload_size.py
	$(BIN)/python bench/pages_import.py
	$(BIN)/python bench/s3.py

clean:
	rm -rf $(VENV) node_modules .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
