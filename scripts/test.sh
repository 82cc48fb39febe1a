#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs
# the linters and pytest (unit, contract, integration against moto's server, e2e) in parallel.
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
echo "==> all checks passed in $((SECONDS - start))s"
