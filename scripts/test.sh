#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, types, tests.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k auth`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-packages.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
