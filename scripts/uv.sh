#!/usr/bin/env bash
# Run the pinned uv (the installer that reads uv.lock), installing it first into .tools/ when missing.
# The project's environment is .venv; uv.lock says exactly what goes into it.
#   bash scripts/uv.sh sync --locked --extra test   what scripts/test.sh does
#   bash scripts/uv.sh lock --upgrade               move every dependency to its newest allowed release
#   bash scripts/uv.sh lock --upgrade-package redis move one
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if ! [ -x .tools/bin/uv ] || [ "$(.tools/bin/uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv .tools
    .tools/bin/python -m pip install -q "uv==$UV_VERSION"
fi
export UV_PROJECT_ENVIRONMENT=.venv
exec .tools/bin/uv "$@"
