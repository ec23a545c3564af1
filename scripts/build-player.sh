#!/bin/sh
# The player's ES modules (static/player/*.js) bundled by esbuild into one minified script,
# static/build/player.js: pages load it in one request instead of one import level after
# another. It is committed (an image built from a clean clone runs no npm);
# tests/test_player_bundle.py fails when it is stale. `make install` runs it when a module changes; so do the tests.
# An argument names another output file (tests/test_player_bundle.py builds one to compare).
set -eu
cd "$(dirname "$0")/.."
node_modules/.bin/esbuild static/player/main.js --bundle --minify --format=esm \
  --target=es2020 --legal-comments=none --log-level=warning --outfile="${1:-static/build/player.js}"
