#!/usr/bin/env bash
# Sets up the environment, then runs every test: unit tests (seconds), then the service tests, which start
# the Ray Serve app once for the whole session.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
