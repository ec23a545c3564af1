#!/bin/sh
# Install what pip cannot, from Debian's packages: ffmpeg, Chromium (with fonts, for the browser
# tests and screenshots), npm (for axe-core), nginx (amps behind it is tested), podman, buildah
# and debootstrap (the Docker image is built and run by the tests), espeak-ng and LibriVox
# recordings (speech alignment and its tests); with `bench`, also wrk.
# Idempotent: does nothing, and says nothing, when everything is already there.
set -eu

need=""
command -v ffprobe >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
# Chromium draws no text without a font; DejaVu also covers Arabic (the right-to-left player).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need="$need fonts-dejavu-core"
command -v npm >/dev/null 2>&1 || need="$need npm"
# nginx: the tests run amps behind it (X-Accel-Redirect), as docs/nginx.conf sets it up.
command -v nginx >/dev/null 2>&1 || need="$need nginx-light"
# podman, buildah and debootstrap: tests/test_docker_image.py builds the Dockerfile without a
# Docker engine, from a local Debian base.
command -v podman >/dev/null 2>&1 || need="$need podman"
command -v buildah >/dev/null 2>&1 || need="$need buildah"
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
# espeak-ng: pronunciations of words the speech dictionary lacks (app/speech/pronounce.py); its
# library speaks the tests' news clips with true word times. pocketsphinx-testdata: public-domain
# LibriVox readings with transcripts, for the speech tests.
command -v espeak-ng >/dev/null 2>&1 || need="$need espeak-ng"
[ -e /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1 ] || ldconfig -p 2>/dev/null | grep -q libespeak-ng.so.1 \
  || need="$need libespeak-ng1"
[ -e /usr/share/pocketsphinx/test/data/librivox/transcription ] || need="$need pocketsphinx-testdata"
if [ "${1:-}" = "bench" ]; then
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
