#!/usr/bin/env bash
# `make up`: Airlock end to end on an embedded control plane (default) or on an existing cluster
# (CONTEXT=<kube context>). Everything generated lives under .airlock/. `make down` stops it all.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
STATE="${AIRLOCK_STATE:-$REPO_ROOT/.airlock}"
mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/pki" "$STATE/recordings"
export PATH="$(bash "$HACK_DIR/node.sh"):$PATH"
TOOLS="$(bash "$HACK_DIR/build-tools.sh")"
KUBECTL="$TOOLS/kubectl"
NS=airlock-system
POLICY="${POLICY:-$REPO_ROOT/examples/default-agent-policy.yaml}"

if [ -f "$STATE/pids/airlock.pid" ] && kill -0 "$(cat "$STATE/pids/airlock.pid")" 2>/dev/null; then
  log "Airlock is already running (pid $(cat "$STATE/pids/airlock.pid")); make down first"; exit 1
fi

free_port() {
  local p
  while :; do p=$(( 20000 + RANDOM % 12000 )); (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo "$p"; return; }; done
}

# 1. The cluster: embedded control plane, or an existing context.
if [ -n "${CONTEXT:-}" ]; then
  log "targeting existing cluster context $CONTEXT"
  src_kc="${KUBECONFIG:-$HOME/.kube/config}"
  "$KUBECTL" --kubeconfig "$src_kc" config view --raw --minify --flatten --context "$CONTEXT" > "$STATE/admin.kubeconfig"
  cp "$STATE/admin.kubeconfig" "$STATE/airlock.kubeconfig"
  WEBHOOK_ARGS=(--webhook-enabled=false)
  [ -n "${WEBHOOK_URL:-}" ] && WEBHOOK_ARGS=(--webhook-url "$WEBHOOK_URL")
  EMBEDDED=0
else
  bash "$HACK_DIR/cluster.sh" up "$STATE/cluster" > /dev/null
  for f in admin airlock; do cp "$STATE/cluster/$f.kubeconfig" "$STATE/$f.kubeconfig"; done
  cp "$STATE/cluster/approver.kubeconfig" "$STATE/approver.kubeconfig"
  cp "$STATE/cluster/approver2.kubeconfig" "$STATE/approver2.kubeconfig"
  EMBEDDED=1
fi
ADMIN=("$KUBECTL" --kubeconfig "$STATE/admin.kubeconfig")

# 2. Ports and the proxy's serving certificate (its own CA under .airlock/pki).
[ -f "$STATE/ports.env" ] || printf 'PROXY_PORT=%s\nWEBHOOK_PORT=%s\nHEALTH_PORT=%s\nMETRICS_PORT=%s\n' \
  "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" > "$STATE/ports.env"
source "$STATE/ports.env"
# A CA of Airlock's own (new_ca NAME CN) and a certificate it signs (issue CA NAME SUBJECT EXTENSIONS).
# ECDSA P-256 keys, as the operator's own certificates (src/operator/certs.ts): a TLS handshake with one
# costs the proxy a small fraction of an RSA-2048 one, which matters when clients open many connections.
EC_KEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
new_ca() {
  openssl req -x509 "${EC_KEY[@]}" -nodes -days 825 -subj "/CN=$2" -keyout "$STATE/pki/$1.key" -out "$STATE/pki/$1.crt" 2>/dev/null
}
issue() {
  local ca="$1" name="$2"
  openssl req "${EC_KEY[@]}" -nodes -subj "$3" -keyout "$STATE/pki/$name.key" -out "$STATE/pki/$name.csr" 2>/dev/null
  printf '%s\n' "$4" > "$STATE/pki/$name.ext"
  openssl x509 -req -in "$STATE/pki/$name.csr" -CA "$STATE/pki/$ca.crt" -CAkey "$STATE/pki/$ca.key" \
    -CAcreateserial -days 825 -extfile "$STATE/pki/$name.ext" -out "$STATE/pki/$name.crt" 2>/dev/null
}
if [ ! -f "$STATE/pki/proxy.crt" ]; then
  new_ca proxy-ca airlock-proxy-ca
  issue proxy-ca proxy "/CN=airlock-proxy" $'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'
fi
# The agent's credential is one only the proxy accepts: a client certificate from a CA of the proxy's own
# (embedded), or a token for the audience "airlock" (existing cluster). kube-apiserver refuses both, so the
# agent cannot take its kubeconfig around Airlock to read Secrets directly.
if [ ! -f "$STATE/pki/agent.crt" ]; then
  new_ca agent-ca airlock-agent-ca
  issue agent-ca agent "/O=airlock:agents/CN=agent-ci" 'extendedKeyUsage=clientAuth'
fi
if [ "$EMBEDDED" = 1 ]; then AGENT_AUTH_ARGS=(--proxy-client-ca "$STATE/pki/agent-ca.crt"); else AGENT_AUTH_ARGS=(--token-audiences airlock); fi

# TRACING=1: a local Jaeger v2 receives the proxy's OpenTelemetry traces (OTLP/HTTP) and shows them.
TRACING_ARGS=()
if [ "${TRACING:-0}" = 1 ]; then
  JAEGER="$(bash "$HACK_DIR/jaeger.sh")"
  cat > "$STATE/jaeger.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces: {receivers: [otlp], exporters: [jaeger_storage_exporter]}
  telemetry: {metrics: {level: none}, logs: {level: warn}}
extensions:
  jaeger_storage: {backends: {mem: {memory: {max_traces: 50000}}}}
  jaeger_query: {storage: {traces: mem}, http: {endpoint: "127.0.0.1:${JAEGER_UI_PORT:-16686}"}, grpc: {endpoint: "127.0.0.1:${JAEGER_GRPC_PORT:-16685}"}}
receivers:
  otlp: {protocols: {http: {endpoint: "127.0.0.1:${JAEGER_OTLP_PORT:-4318}"}}}
exporters:
  jaeger_storage_exporter: {trace_storage: mem}
YAML
  "$JAEGER" --config "$STATE/jaeger.yaml" >> "$STATE/logs/jaeger.log" 2>&1 &
  echo $! > "$STATE/pids/jaeger.pid"
  TRACING_ARGS=(--tracing-endpoint "http://127.0.0.1:${JAEGER_OTLP_PORT:-4318}/v1/traces")
fi

# 3. The operator namespace, then Airlock itself (operator + webhook + proxy in one process).
"${ADMIN[@]}" create namespace "$NS" --dry-run=client -o yaml | "${ADMIN[@]}" apply -f - >/dev/null
if [ "$EMBEDDED" = 1 ]; then WEBHOOK_ARGS=(--webhook-url "https://127.0.0.1:$WEBHOOK_PORT/validate"); fi
# --max-semi-space-size as the chart sets it (values.yaml maxSemiSpaceMiB): the resident size users see.
NODE_OPTIONS="--max-semi-space-size=16 ${NODE_OPTIONS:-}" node "$REPO_ROOT/dist/src/main/index.js" \
  --kubeconfig "$STATE/airlock.kubeconfig" --namespace "$NS" \
  --bind-address 127.0.0.1 \
  --proxy-port "$PROXY_PORT" --proxy-cert "$STATE/pki/proxy.crt" --proxy-key "$STATE/pki/proxy.key" \
  --webhook-port "$WEBHOOK_PORT" "${WEBHOOK_ARGS[@]}" "${AGENT_AUTH_ARGS[@]}" \
  --health-port "$HEALTH_PORT" --metrics-port "$METRICS_PORT" \
  --recording-dir "$STATE/recordings" --audit-log "$STATE/logs/agent-audit.log" "${TRACING_ARGS[@]}" \
  >> "$STATE/logs/airlock.log" 2>&1 &
echo $! > "$STATE/pids/airlock.pid"
for i in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$HEALTH_PORT/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$(cat "$STATE/pids/airlock.pid")" 2>/dev/null; then tail -30 "$STATE/logs/airlock.log" >&2; log "airlock exited"; exit 1; fi
  [ "$i" = 300 ] && { tail -30 "$STATE/logs/airlock.log" >&2; log "airlock not ready after 30s"; exit 1; }
  sleep 0.1
done

# 4. The example policy (the product default for CI/CD agents); wait until Ready.
"${ADMIN[@]}" apply -f "$POLICY" >/dev/null
for pol in $("${ADMIN[@]}" get agentpolicies -o name); do
  "${ADMIN[@]}" wait --for=condition=Ready "$pol" --timeout=30s >/dev/null
done

# 5. A "production" namespace the agent did not create, for the demo of a held change.
"${ADMIN[@]}" create namespace production --dry-run=client -o yaml | "${ADMIN[@]}" apply -f - >/dev/null
"${ADMIN[@]}" label namespace production env=production --overwrite >/dev/null
"${ADMIN[@]}" -n production create deployment web --image=registry.k8s.io/pause:3.10 --replicas=2 --dry-run=client -o yaml \
  | "${ADMIN[@]}" apply -f - >/dev/null

# 6. The agent's kubeconfig: pointed at the proxy, the proxy's CA, a credential only the proxy accepts.
if [ "$EMBEDDED" = 1 ]; then
  KC="$STATE/agent.kubeconfig"
  rm -f "$KC"
  "$KUBECTL" --kubeconfig "$KC" config set-cluster airlock --server "https://127.0.0.1:$PROXY_PORT" \
    --certificate-authority "$STATE/pki/proxy-ca.crt" --embed-certs=true >/dev/null
  "$KUBECTL" --kubeconfig "$KC" config set-credentials agent-ci --client-certificate "$STATE/pki/agent.crt" \
    --client-key "$STATE/pki/agent.key" --embed-certs=true >/dev/null
  "$KUBECTL" --kubeconfig "$KC" config set-context airlock-agent-ci --cluster airlock --user agent-ci >/dev/null
  "$KUBECTL" --kubeconfig "$KC" config use-context airlock-agent-ci >/dev/null
  chmod 600 "$KC"
else
  "${ADMIN[@]}" create namespace agents --dry-run=client -o yaml | "${ADMIN[@]}" apply -f - >/dev/null
  "${ADMIN[@]}" -n agents create serviceaccount agent-ci --dry-run=client -o yaml | "${ADMIN[@]}" apply -f - >/dev/null
  AGENT_TOKEN="$("${ADMIN[@]}" -n agents create token agent-ci --audience airlock --duration=24h)"
  node "$REPO_ROOT/bin/kubectl-airlock.js" kubeconfig --agent agent-ci --server "https://127.0.0.1:$PROXY_PORT" \
    --ca-file "$STATE/pki/proxy-ca.crt" --token "$AGENT_TOKEN" > "$STATE/agent.kubeconfig"
fi

cat <<EOF

Airlock is up.$( [ "$EMBEDDED" = 1 ] && echo " Embedded control plane: $(grep -o '"server": "[^"]*"' "$STATE/cluster/env.json" | cut -d'"' -f4)")
  proxy     https://127.0.0.1:$PROXY_PORT      (agents only)
  webhook   https://127.0.0.1:$WEBHOOK_PORT/validate
  health    http://127.0.0.1:$HEALTH_PORT/readyz     metrics http://127.0.0.1:$METRICS_PORT/metrics
  logs      .airlock/logs/airlock.log         recordings .airlock/recordings
$( [ "${TRACING:-0}" = 1 ] && echo "  traces    http://127.0.0.1:${JAEGER_UI_PORT:-16686}  (Jaeger UI; service airlock)" )

Kubeconfigs (.airlock/):
  agent.kubeconfig      the example agent "agent-ci", through the proxy
  admin.kubeconfig      cluster-admin, direct
  approver.kubeconfig   alice (airlock:approvers)     approver2.kubeconfig  bob (airlock:approvers)

Try it:
  export PATH=\$PWD/bin:$TOOLS:\$PATH   # kubectl, kubectl-approve, kubectl-airlock
  kubectl --kubeconfig .airlock/agent.kubeconfig create namespace demo
  kubectl --kubeconfig .airlock/agent.kubeconfig -n demo create deployment web --image=nginx:1.27
  kubectl --kubeconfig .airlock/agent.kubeconfig -n demo get secrets -o yaml        # values are masked
  kubectl --kubeconfig .airlock/agent.kubeconfig create clusterrolebinding x --clusterrole=cluster-admin --user=agent-ci   # denied
  kubectl --kubeconfig .airlock/agent.kubeconfig delete namespace demo              # its own namespace: allowed
  kubectl --kubeconfig .airlock/agent.kubeconfig -n production scale deployment web --replicas=0   # held for approval
  KUBECONFIG=.airlock/approver.kubeconfig kubectl approve list
  KUBECONFIG=.airlock/approver.kubeconfig kubectl approve <name> --comment "ok"
  kubectl --kubeconfig .airlock/agent.kubeconfig -n production scale deployment web --replicas=0   # the retry passes
  kubectl airlock sessions --dir .airlock/recordings
  make down
EOF
