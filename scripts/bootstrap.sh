#!/usr/bin/env bash
# Create ./.venv and install DeployForge with the given extras (default: sandbox).
# Used by quickstart.sh and test.sh; safe to run again (it only installs what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-sandbox}"
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: DeployForge needs Python >= 3.11 (found: $("$python" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$python" -m venv .venv
fi
if ! .venv/bin/python -m uv --version >/dev/null 2>&1; then
  echo "==> installing uv (fast installer)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
fi
echo "==> installing deployforge[$extras]"
# requirements.lock pins what the image ships (scripts/lock.sh); as constraints here, the sandbox
# and the tests run the same versions of DeployForge's dependencies; requirements-dev.lock pins the
# extras (moto, the emulators' wheels, the test tools and linters), so a new release of one of them
# cannot change what the suite runs.
# --compile-bytecode: uv (unlike pip) leaves packages uncompiled, and where PYTHONDONTWRITEBYTECODE is
# set (CI images often set it) every command then compiles boto3, botocore and moto from source:
# 0.45 s of CPU on each `deployforge plan`, and more on each sandbox start.
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python --compile-bytecode \
  -c requirements.lock -c requirements-dev.lock -e ".[$extras]"
