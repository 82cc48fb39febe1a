#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs the linters,
# pytest (unit, contract, golden, integration against real emulators on loopback, e2e) in parallel,
# and every extra check in scripts/checks/ (each installs what it needs itself).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
start=$SECONDS

echo "==> ruff"
ruff check src tests benchmarks scripts
ruff format --check src tests benchmarks scripts
echo "==> mypy"
mypy
echo "==> pytest"
pytest -n "${PYTEST_WORKERS:-auto}" -q "$@"
shopt -s nullglob
for check in scripts/checks/*.sh; do
  echo "==> $check"
  "$check"
done
echo "==> all checks passed in $((SECONDS - start))s"
