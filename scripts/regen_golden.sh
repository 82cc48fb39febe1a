#!/usr/bin/env bash
# Regenerate the golden files of the PR comment and the job summary (tests/golden/comment, summary)
# after an intended rendering change; review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOYFORGE_REGEN_GOLDEN=1 python -m pytest -q -p no:cacheprovider tests/unit/test_markdown_golden.py "$@"
git status --short tests/golden/comment tests/golden/summary
