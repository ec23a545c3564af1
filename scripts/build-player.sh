#!/bin/sh
# The player's ES modules (static/player/*.js) bundled by esbuild into one minified script,
# static/build/player.js (git-ignored): pages load it in one request instead of one import
# level after another. `make install` runs it when a module changes; so do the tests.
set -eu
cd "$(dirname "$0")/.."
node_modules/.bin/esbuild static/player/main.js --bundle --minify --format=esm \
  --target=es2020 --legal-comments=none --log-level=warning --outfile=static/build/player.js
