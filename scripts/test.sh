#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, types, tests.
# Exactly the versions in uv.lock are installed, so every machine tests the same set.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k auth`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh --test
# whisper-base: Whisper base is tested for real (tests/pipeline/test_whisper_models.py); ~135 MB to fetch.
bash scripts/uv.sh sync --locked --extra test --extra whisper-base --quiet
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
