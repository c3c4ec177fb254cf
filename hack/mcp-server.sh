#!/usr/bin/env bash
# Fetches the published kubernetes-mcp-server (github.com/containers/kubernetes-mcp-server, distributed as
# a prebuilt binary in the npm package kubernetes-mcp-server-linux-amd64) into the tools cache ($TOOLS_BIN,
# see hack/lib.sh) and prints the path of the binary. Idempotent. Override with MCP_SERVER_VERSION=X.Y.Z.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCP_SERVER_VERSION="${MCP_SERVER_VERSION:-0.0.67}"
MCP_BIN="$TOOLS_BIN/kubernetes-mcp-server-$MCP_SERVER_VERSION"
if [ ! -x "$MCP_BIN" ]; then
  log "fetching kubernetes-mcp-server $MCP_SERVER_VERSION into $TOOLS_BIN (first time only)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "kubernetes-mcp-server-linux-amd64@$MCP_SERVER_VERSION" >/dev/null && tar xzf ./*.tgz)
  mkdir -p "$TOOLS_BIN"
  install -m 0755 "$tmp/package/bin/kubernetes-mcp-server-linux-amd64" "$MCP_BIN"
fi
echo "$MCP_BIN"
