#!/usr/bin/env bash
# The Jenkins shared library's Groovy tests (jenkins-shared-library/test/), in one JVM.
# On a fresh CI machine, installs Debian's groovy and a headless JRE first (needs root for apt-get).
# Exits non-zero when any test fails or groovy cannot be had. `--install-only` stops after installing
# (the e2e tests in tests/e2e/test_jenkins_e2e.py use it when groovy is missing).
set -euo pipefail
cd "$(dirname "$0")/../../jenkins-shared-library"

if ! command -v groovy >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: groovy is not installed and this is not root; run: sudo apt-get install -y groovy default-jre-headless" >&2
    exit 1
  fi
  echo "==> installing groovy default-jre-headless (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq groovy default-jre-headless >/dev/null 2>&1 ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq groovy default-jre-headless >/dev/null; }
fi
# Debian's groovy 2.4 runs on JDK 17; prefer it when several JDKs are installed.
if [ -z "${JAVA_HOME:-}" ] && [ -d /usr/lib/jvm/java-17-openjdk-amd64 ]; then
  export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
fi
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi
groovy -cp src:test/stubs:test test/run.groovy "$@"
