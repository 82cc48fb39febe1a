#!/usr/bin/env bash
# The quickstart: from a fresh clone, set up DeployForge and run
# validate -> plan -> apply -> plan on the embedded AWS emulator (no AWS account needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh sandbox
export PATH="$PWD/.venv/bin:$PATH"
config=examples/quickstart/deployforge.yaml
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting fresh: stopping any sandbox and clearing examples/quickstart/.deployforge"
deployforge sandbox down -c "$config" >/dev/null 2>&1 || true
rm -rf examples/quickstart/.deployforge

step "deployforge validate -c $config"
deployforge validate -c "$config"

step "deployforge plan --sandbox -c $config --environment dev   (exit code 2 = changes to make)"
rc=0; deployforge plan --sandbox -c "$config" --environment dev || rc=$?
[ "$rc" = 2 ] || { echo "expected changes (exit 2), got exit $rc" >&2; exit 1; }

step "deployforge apply --sandbox -c $config --environment dev --auto-approve"
deployforge apply --sandbox -c "$config" --environment dev --auto-approve

step "deployforge plan again: the cloud now matches the config (exit code 0)"
deployforge plan --sandbox -c "$config" --environment dev

step "deployforge audit verify: every command above is in the hash-chained audit log"
deployforge audit verify -c "$config" --environment dev

cat <<TXT

Done. The sandbox is still running at $(deployforge sandbox endpoint -c "$config"), so you can explore:
  export PATH="\$PWD/.venv/bin:\$PATH"
  deployforge state list --sandbox -c $config -e dev
  deployforge audit log -c $config -e dev
  deployforge sandbox down -c $config     # stops it; its state is kept for the next 'sandbox up'
TXT
