#!/usr/bin/env bash
# Builds Jaeger (v2: an OpenTelemetry Collector distribution that receives OTLP and answers queries) from
# the Go module proxy into the tool cache, for the trace tests and `make up TRACING=1`. Prints the binary.
# hack/jaeger/go.mod pins the version; the cache key is the hash of its go.sum. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
key="$(sha256sum "$HACK_DIR/jaeger/go.sum" | cut -c1-12)"
bin="$CACHE_ROOT/bin/jaeger-$key/jaeger"
if [ ! -x "$bin" ]; then
  log "building jaeger into $(dirname "$bin") (first time only, several minutes)"
  mkdir -p "$(dirname "$bin")"
  (cd "$HACK_DIR/jaeger" && GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
