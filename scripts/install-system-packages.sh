#!/usr/bin/env bash
# System packages the server and its tests need, from Debian:
#   redis-server  the real Redis the tests start (and an optional production backend)
#   espeak-ng     the second TTS engine
#   sox           audio fixtures and checks
#   wrk           the HTTP load tool of the REST benchmark
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v wrk >/dev/null || missing+=(wrk)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
