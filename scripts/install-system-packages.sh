#!/bin/sh
# Install what pip cannot: ffmpeg (and, with `bench`, nginx and wrk) from Debian's packages.
# Idempotent: does nothing when the commands are already there.
set -eu

need=""
command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
if [ "${1:-}" = "bench" ]; then
  command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
  command -v wrk >/dev/null 2>&1 || need="$need wrk"
fi
[ -z "$need" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "amps needs:$need. This system has no apt-get: install them with its package manager." >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "amps needs:$need. Run 'make install' as root, or install them: apt-get install$need" >&2
  exit 1
fi
echo "installing$need with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $need >/dev/null
