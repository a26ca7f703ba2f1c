#!/usr/bin/env bash
# Sets up the environment (ours, and PaddleX's as the test oracle), then runs every test: unit tests (seconds),
# the differential tests against PaddleX, the model and engine tests, then the service tests, which start each
# Ray Serve app once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_reference.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
