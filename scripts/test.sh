#!/usr/bin/env bash
# Sets up the environment (ours, and PaddleX's as the test oracle), then runs every test: unit tests (seconds),
# the differential tests against PaddleX, the model and engine tests, then the service tests, which start each
# Ray Serve app once.
set -euo pipefail
cd "$(dirname "$0")/.."
# The two venvs are independent; installing them side by side saves minutes on a fresh machine.
bash scripts/setup_reference.sh &
reference=$!
bash scripts/setup.sh
wait $reference
# The slowest tests are printed on every run, so CI time stays visible.
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=25 "$@"
