#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs the linters,
# pytest (unit, contract, golden, integration against real emulators on loopback, e2e) in parallel,
# and every extra check in scripts/checks/ (each installs what it needs itself: CI lints, the Groovy
# tests of the Jenkins library, the container check). The container check is mostly waiting on
# debootstrap and buildah, so it runs in the background while the rest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
export PATH="$PWD/.venv/bin:$PATH"
# The suite starts hundreds of Python processes (the CLI, sandboxes, emulators): let them cache the
# bytecode of src/ and tests/ as a user's machine does, even where the image sets PYTHONDONTWRITEBYTECODE.
unset PYTHONDONTWRITEBYTECODE
start=$SECONDS

# Debian packages the checks need (Groovy tests, container check), installed once up front: apt
# takes one installer at a time, and the container check runs in parallel with pytest below.
need=()
command -v groovy >/dev/null || need+=(groovy default-jre-headless)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${need[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
fi
logs=$(mktemp -d /tmp/deployforge-test.XXXXXX)
bg_pids=()
trap 'for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$logs"' EXIT

shopt -s nullglob
background=(scripts/checks/5*.sh)   # long, mostly I/O-bound checks
for check in "${background[@]}"; do
  echo "==> $check (in the background; output follows at the end)"
  "$check" >"$logs/$(basename "$check").log" 2>&1 &
  bg_pids+=($!)
done

echo "==> ruff"
ruff check src tests benchmarks scripts
ruff format --check src tests benchmarks scripts
echo "==> mypy"
mypy
echo "==> pytest"
# Four workers on these 2-core machines: a third of the suite's time is spent waiting (processes
# starting, emulators answering, fsync), not computing; measured: 2 workers 320 s, 3 290 s, 4 276 s.
# Test folders go to tmpfs when it has room (the state, audit and journal writes fsync: 276 -> 263 s),
# and idle workers take tests queued on busy ones (--dist worksteal: no tail of long e2e tests
# behind one worker: 263 -> 229 s).
basetemp=()
shm_free_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ "${shm_free_kb:-0}" -gt 4000000 ]; then
  rm -rf /dev/shm/deployforge-pytest
  basetemp=(--basetemp=/dev/shm/deployforge-pytest)
fi
pytest -n "${PYTEST_WORKERS:-4}" --dist worksteal -q "${basetemp[@]}" "$@"
for check in scripts/checks/*.sh; do
  case " ${background[*]} " in *" $check "*) continue ;; esac
  echo "==> $check"
  "$check"
done

failed=0
for i in "${!background[@]}"; do
  check=${background[$i]}
  if wait "${bg_pids[$i]}"; then status=passed; else status=FAILED; failed=1; fi
  echo "==> $check: $status"
  cat "$logs/$(basename "$check").log"
done
[ "$failed" = 0 ] || { echo "==> a background check failed" >&2; exit 1; }
echo "==> all checks passed in $((SECONDS - start))s"
