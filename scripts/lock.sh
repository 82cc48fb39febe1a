#!/usr/bin/env bash
# Re-pin requirements.lock: every runtime dependency of DeployForge (pyproject's [project]
# dependencies, and theirs) at one exact version with the sha256 of every file published for it,
# for Python 3.11 on any platform (--universal). The image installs exactly these
# (`pip install --require-hashes`), and the dev and sandbox venvs use them as constraints, so the
# tests run what ships. Run after changing a dependency in pyproject.toml, or to take updates;
# then run ./scripts/test.sh (the container check builds the image from the new lock).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] && .venv/bin/python -m uv --version >/dev/null 2>&1 || scripts/bootstrap.sh dev >/dev/null
.venv/bin/python -m uv pip compile pyproject.toml --universal --generate-hashes --python-version 3.11 \
  --upgrade --quiet --custom-compile-command "scripts/lock.sh" -o requirements.lock
echo "requirements.lock: $(grep -c '^[a-z]' requirements.lock) packages pinned"
