#!/usr/bin/env bash
# Container check: build the Action's Dockerfile the way a runner would (here with Debian's buildah:
# vfs storage, chroot isolation, no Docker engine), then run the image's own ENTRYPOINT the way the
# runner runs a Docker action (INPUT_* with hyphens kept, the workspace mounted, its working
# directory set, GITHUB_* files) against the fake GitHub server and moto on loopback: the first
# run creates the PR comment, the second updates it; outputs are checked.
# Figures printed: image size, container start -> first output line, API calls per upsert.
# A private buildah root in a temp dir, removed at the end; only the debootstrap base is cached
# between runs (see below).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "==> installing buildah and debootstrap"
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq buildah debootstrap >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python

work=$(mktemp -d /tmp/deployforge-container.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  $SUDO buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs rm --all >/dev/null 2>&1 || true
  $SUDO rm -rf "$work"
}
trap cleanup EXIT
B=($SUDO buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs)
start=$SECONDS

echo "==> base image (debootstrap minbase: python3, venv, CA certificates)"
# The base changes only with its recipe (the lines below): it is cached between runs as a tarball,
# keyed by the recipe's hash, and rebuilt when the recipe changes or the copy is a week old
# (Debian's security updates). DEPLOYFORGE_NO_CACHE=1 rebuilds it anyway.
suite=bookworm
include=python3,python3-venv,ca-certificates
trim="var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc/* usr/share/man/* usr/share/locale/* usr/share/info/*"
key=$(printf '%s\n' "v1" "$suite" "$include" "$trim" | sha256sum | cut -c1-16)
cache_dir="${XDG_CACHE_HOME:-$HOME/.cache}/deployforge"
cached="$cache_dir/container-base-$key.tar"
if [ -s "$cached" ] && [ -z "${DEPLOYFORGE_NO_CACHE:-}" ] && [ -n "$(find "$cached" -mtime -7 2>/dev/null)" ]; then
  echo "    cached: $cached"
  cp "$cached" "$work/rootfs.tar"
else
  $SUDO debootstrap --variant=minbase --include="$include" "$suite" "$work/rootfs" \
    >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; exit 1; }
  # Trim it like Debian's slim images: no downloaded .debs, apt lists, docs, man pages or locales,
  # and dpkg told to skip them for packages the Dockerfile installs.
  for pattern in $trim; do
    # shellcheck disable=SC2086  # the pattern's glob expands here, inside the rootfs
    $SUDO rm -rf "$work/rootfs/"$pattern
  done
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/locale/*' 'path-exclude /usr/share/info/*' \
    | $SUDO tee "$work/rootfs/etc/dpkg/dpkg.cfg.d/slim" >/dev/null
  $SUDO tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  $SUDO rm -rf "$work/rootfs"
  if mkdir -p "$cache_dir" 2>/dev/null; then
    rm -f "$cache_dir"/container-base-*.tar
    cp "$work/rootfs.tar" "$cached.tmp" && mv "$cached.tmp" "$cached"
  fi
fi
ctr=$("${B[@]}" from scratch)
"${B[@]}" add "$ctr" "$work/rootfs.tar" / >/dev/null
"${B[@]}" commit --quiet "$ctr" localhost/deployforge-base >/dev/null
"${B[@]}" rm "$ctr" >/dev/null
rm -f "$work/rootfs.tar"
echo "    base ready after $((SECONDS - start))s"

echo "==> building the Dockerfile (buildah bud, chroot isolation, --from the local base)"
"${B[@]}" bud --quiet --isolation chroot --from localhost/deployforge-base \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  -t localhost/deployforge-action:check . >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; exit 1; }
echo "    built after $((SECONDS - start))s"
"${B[@]}" images --json localhost/deployforge-action:check >"$work/images.json"
"${B[@]}" inspect --type image localhost/deployforge-action:check >"$work/inspect.json"
"${B[@]}" images --json localhost/deployforge-base >"$work/base.json"
size=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["size"])' "$work/images.json")
base_size=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["size"])' "$work/base.json")
echo "    image size: $size (the debootstrap base alone: $base_size)"
entrypoint=$("$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["OCIv1"]["config"]["Entrypoint"]))' \
  "$work/inspect.json")
echo "    entrypoint: $entrypoint"

echo "==> servers on loopback: fake GitHub and moto"
# Both bind port 0 themselves and write their URL to a file: a port picked here and handed to a
# server could be taken by another process on a busy machine before the server binds it.
"$PY" -m tests.fakes.github --pr octo/infra#42 --url-file "$work/gh-url" >"$work/gh.log" 2>&1 &
pids+=($!)
"$PY" -m tests.fakes.moto_server --url-file "$work/moto-url" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do
  [ -s "$work/gh-url" ] && [ -s "$work/moto-url" ] && break
  sleep 0.1
done
for server in gh moto; do
  if [ ! -s "$work/$server-url" ] || ! "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
    "$(cat "$work/$server-url" 2>/dev/null)/$([ $server = moto ] && echo moto-api/ || echo _fake/state)"; then
    echo "error: the $server server did not start within 60 s; its log:" >&2
    tail -20 "$work/$server.log" >&2
    exit 1
  fi
done
moto_url=$(cat "$work/moto-url")
gh_url=$(cat "$work/gh-url")

ws="$work/workspace"
files="$work/file_commands"
mkdir -p "$ws" "$files"
cat >"$ws/deployforge.yaml" <<YAML
version: 1
name: container-check
targets:
  aws_main:
    provider: aws
    region: us-east-1
    endpoint_url: $moto_url
environments:
  staging: {}
resources:
  artifacts:
    type: aws_s3_bucket
    properties:
      bucket: df-container-check-artifacts
      versioning: true
YAML
cat >"$files/event.json" <<'JSON'
{"action": "opened", "number": 42, "pull_request": {"number": 42, "head": {"sha": "9f2c1e0b7a6d5c4b3a2910fedcba987654321000"}}}
JSON

export DF_B="${B[*]}" DF_ENTRYPOINT="$entrypoint" DF_WS="$ws" DF_FILES="$files" DF_GH="$gh_url" DF_SIZE="$size" DF_BASE_SIZE="$base_size"
"$PY" "$repo/tests/container/run_action.py" || {
  for server in moto gh; do echo "--- the $server server's log (last lines)"; tail -30 "$work/$server.log"; done
  exit 1
}
echo "==> container check passed in $((SECONDS - start))s"
