#!/usr/bin/env bash
# Install the server and run it on its embedded defaults: in-memory state, the offline
# scripted responder, a JWT secret generated once under ~/.companion-voice. No Redis, no key.
# Extra arguments go to `companion-voice serve` (e.g. `--port 9000`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/companion-voice serve "$@"
