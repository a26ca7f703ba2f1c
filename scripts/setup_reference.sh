#!/usr/bin/env bash
# Creates var/refvenv: PaddleX 3.7.2, the reference implementation, in a venv of its own (its pins clash with
# ours). The oracle tests (tests/oracle) call its functions; loadtest/bench_reference.py runs its server.
# Idempotent: a second run with unchanged pins does nothing. About 1.7 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
venv=var/refvenv
stamp=$venv/.reference-installed
want=$(cat requirements-reference.lock scripts/setup_reference.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x $venv/bin/python ] || "$PYTHON" -m venv $venv
  $venv/bin/python -m pip install --quiet --upgrade pip
  # Without the serving extra PaddleX refuses to serve; doc-parser is what its PaddleOCR-VL pipeline imports.
  $venv/bin/python -m pip install --quiet -c requirements-reference.lock \
    paddlepaddle==3.3.1 "paddlex[serving]==3.7.2" "paddleocr[doc-parser]==3.7.0"
  echo "$want" > "$stamp"
fi
