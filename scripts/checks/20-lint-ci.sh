#!/usr/bin/env bash
# Lint the Action and the workflows offline: check-jsonschema with its bundled GitHub schemas,
# yamllint, zizmor (workflow security, --offline) and hadolint (the Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d .venv/bin ] && export PATH="$PWD/.venv/bin:$PATH"
workflows=(.github/workflows/*.yml examples/github/*.yml)
echo "check-jsonschema: action.yml"
check-jsonschema --builtin-schema vendor.github-actions action.yml
echo "check-jsonschema: workflows"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
yamllint -s -d '{extends: default, rules: {line-length: {max: 140}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}' \
  action.yml "${workflows[@]}"
zizmor --offline --no-progress action.yml "${workflows[@]}"
hadolint Dockerfile
echo "lint-ci: ok"
