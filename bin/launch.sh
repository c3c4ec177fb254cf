#!/usr/bin/env bash
# Runs one of Airlock's commands (bin/<name>.js) on Node.js 24: AIRLOCK_NODE if set, else the Node 24 that
# `make` installed into the cache (hack/node.sh), else `node` on PATH if it is 24 or newer. Otherwise one
# line says how to get it, instead of a stack trace from an older Node.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
script="$here/$1.js"
shift
version="$(sed -n 's/^NODE_VERSION="\(.*\)"$/\1/p' "$here/../hack/lib.sh")"
cache="${AIRLOCK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock}"
for node in "${AIRLOCK_NODE:-}" "$cache/node/$version/bin/node" "$(command -v node || true)"; do
  [ -n "$node" ] && [ -x "$node" ] || continue
  major="$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -ge 24 ]; then exec "$node" "$script" "$@"; fi
done
echo "error: $(basename "$script" .js) needs Node.js 24 or newer: run 'make deps' in $(dirname "$here") (it installs Node $version into $cache/node), or set AIRLOCK_NODE" >&2
exit 1
