#!/usr/bin/env bash
# Shared settings for hack/ scripts. Tools are built from Go modules into a cache outside the repo,
# keyed by version and by the hash of hack/tools/go.sum, so clean clones and CI reuse them.
set -euo pipefail
HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HACK_DIR/.." && pwd)"
KUBE_VERSION="v1.34.4"
NODE_VERSION="24.21.0"
KWOK_VERSION="v0.8.0"
OPA_VERSION="v1.19.1"
CACHE_ROOT="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"
tools_key() { cat "$HACK_DIR/tools/go.mod" "$HACK_DIR/tools/go.sum" | sha256sum | cut -c1-12; }
TOOLS_BIN="$CACHE_ROOT/bin/$KUBE_VERSION-$(tools_key)"
NODE_HOME="$CACHE_ROOT/node/$NODE_VERSION"
log() { printf '[hack] %s\n' "$*" >&2; }
# alive PID: true while the process exists and is not a zombie (kill -0 succeeds on zombies that an
# unrelated parent has not reaped yet).
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
