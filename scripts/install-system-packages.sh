#!/usr/bin/env bash
# System packages the server and its tests need, from Debian:
#   redis-server  the real Redis the tests start (and an optional production backend)
#   espeak-ng     the second TTS engine
#   sox           audio fixtures and checks
#   wrk           the HTTP load tool of the REST benchmark
# and with `--test` (what scripts/test.sh passes), for the tests only:
#   chromium      the headless browser the console tests drive (tests/console), through Playwright's
#                 Python API pointed at /usr/bin/chromium: Playwright's own browsers are never fetched
#   fonts-liberation  its text on screenshots (a recommendation of chromium, which --no-install-recommends skips)
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
command -v sox >/dev/null || missing+=(sox)
command -v wrk >/dev/null || missing+=(wrk)
if [ "${1:-}" = --test ]; then
    command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
