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
# requirements-dev.lock pins the dev and sandbox extras (moto, the test tools, the linters) within
# requirements.lock, so every machine tests with the same tools: the self-test workflow's moto
# service image is tagged with the moto version pinned here (tests/unit/test_selftest_workflow.py).
.venv/bin/python -m uv pip compile pyproject.toml --extra dev --extra sandbox --universal --python-version 3.11 \
  -c requirements.lock --upgrade --quiet --custom-compile-command "scripts/lock.sh" -o requirements-dev.lock
echo "requirements.lock: $(grep -c '^[a-z]' requirements.lock) packages pinned"
echo "requirements-dev.lock: $(grep -c '^[a-z]' requirements-dev.lock) packages pinned"
echo "moto is $(grep '^moto==' requirements-dev.lock): tag .github/workflows/ci.yml's motoserver/moto service to match"
