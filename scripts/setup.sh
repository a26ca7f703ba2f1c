#!/usr/bin/env bash
# Creates .venv and installs the service with pinned versions. Idempotent: a second run with unchanged
# pins does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.ocrvl-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # requirements.lock pins every transitive package; the project itself is installed editable.
  .venv/bin/python -m pip install --quiet -c requirements.lock -e '.[test]'
  echo "$want" > "$stamp"
fi
