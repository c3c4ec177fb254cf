#!/usr/bin/env bash
# Builds the kstatus reader (hack/kstatus: sigs.k8s.io/cli-utils' status computation, what Flux and kpt
# wait on) into the tool cache, for the tests that check how GitOps tools read Airlock's status.
# The cache key is the hash of its sources. Prints the binary. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
key="$(cat "$HACK_DIR/kstatus/go.sum" "$HACK_DIR/kstatus/main.go" | sha256sum | cut -c1-12)"
bin="$CACHE_ROOT/bin/kstatus-$key/kstatus"
if [ ! -x "$bin" ]; then
  log "building kstatus into $(dirname "$bin") (first time only, under a minute)"
  mkdir -p "$(dirname "$bin")"
  (cd "$HACK_DIR/kstatus" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
