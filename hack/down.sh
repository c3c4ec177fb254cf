#!/usr/bin/env bash
# `make down`: stops everything `make up` started, by pid (Airlock first, gracefully, then the control plane).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE="${AIRLOCK_STATE:-$REPO_ROOT/.airlock}"
if [ -f "$STATE/pids/airlock.pid" ]; then
  pid="$(cat "$STATE/pids/airlock.pid")"
  if alive "$pid"; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pids/airlock.pid"
  log "airlock stopped"
fi
if [ -f "$STATE/pids/jaeger.pid" ]; then
  pid="$(cat "$STATE/pids/jaeger.pid")"
  alive "$pid" && kill -TERM "$pid"
  rm -f "$STATE/pids/jaeger.pid"
  log "jaeger stopped"
fi
[ -d "$STATE/cluster" ] && bash "$HACK_DIR/cluster.sh" down "$STATE/cluster"
exit 0
