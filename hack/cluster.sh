#!/usr/bin/env bash
# A real, local Kubernetes control plane for tests and for people: etcd, kube-apiserver (TLS, RBAC,
# service-account signing keys, token-file users), kube-controller-manager and kube-scheduler, all on
# loopback, all state under one directory.
#
#   hack/cluster.sh up   [DIR]   start (default DIR: .airlock/cluster); prints DIR/env.json
#   hack/cluster.sh down [DIR]   stop every process it started, by pid
#   hack/cluster.sh restart-apiserver [DIR]   kill and start kube-apiserver again (same flags, same data)
#
# Users (token auth file; tokens are random per cluster and written to DIR/env.json and kubeconfigs):
#   admin       system:masters                          DIR/admin.kubeconfig
#   airlock     airlock:controllers (the operator/proxy) DIR/airlock.kubeconfig
#   agent-ci    airlock:agents                           DIR/agent-direct.kubeconfig (direct, for tests)
#   alice, bob  airlock:approvers                        DIR/approver.kubeconfig, DIR/approver2.kubeconfig
#   mallory     (no groups; an outsider)                 DIR/outsider.kubeconfig
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-up}"
DIR="${2:-$REPO_ROOT/.airlock/cluster}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
PIDS="$DIR/pids"

free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
}

stop_pid() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

down() {
  for c in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$PIDS/$c.pid"; done
  log "control plane in $DIR stopped"
}

gen_certs() {
  local c="$DIR/pki"
  [ -f "$c/ca.crt" ] && return 0
  mkdir -p "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=airlock-test-ca" \
    -keyout "$c/ca.key" -out "$c/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$c/apiserver.key" -out "$c/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' > "$c/apiserver.ext"
  openssl x509 -req -in "$c/apiserver.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial -days 3650 \
    -extfile "$c/apiserver.ext" -out "$c/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$c/sa.key" 2048 2>/dev/null
  openssl rsa -in "$c/sa.key" -pubout -out "$c/sa.pub" 2>/dev/null
}

token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

gen_users() {
  [ -f "$DIR/tokens.csv" ] && return 0
  : > "$DIR/tokens.env"
  : > "$DIR/tokens.csv"
  local u t
  while IFS=: read -r u groups; do
    t="$(token)"
    echo "${t},${u},uid-${u},\"${groups}\"" >> "$DIR/tokens.csv"
    echo "${u//-/_}=$t" >> "$DIR/tokens.env"
  done <<'USERS'
admin:system:masters
airlock:airlock:controllers
agent-ci:airlock:agents
alice:airlock:approvers
bob:airlock:approvers
mallory:
USERS
}

kubeconfig() { # name server token file
  cat > "$4" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $1
  cluster:
    server: $2
    certificate-authority: $DIR/pki/ca.crt
users:
- name: $1
  user:
    token: $3
contexts:
- name: $1
  context: {cluster: $1, user: $1}
current-context: $1
EOF
}

start_apiserver() {
  # shellcheck disable=SC1091
  source "$DIR/ports.env"
  "$TOOLS_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --tls-cert-file="$DIR/pki/apiserver.crt" --tls-private-key-file="$DIR/pki/apiserver.key" \
    --client-ca-file="$DIR/pki/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/pki/sa.pub" --service-account-signing-key-file="$DIR/pki/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --token-auth-file="$DIR/tokens.csv" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    --enable-priority-and-fairness=false --profiling=false \
    --cert-dir="$DIR/pki" --v=1 ${AIRLOCK_APISERVER_FLAGS:-} \
    >> "$DIR/logs/kube-apiserver.log" 2>&1 &
  echo $! > "$PIDS/kube-apiserver.pid"
}

wait_ready() {
  source "$DIR/ports.env"; source "$DIR/tokens.env"
  for _ in $(seq 1 600); do
    if curl -fsS --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $admin" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$PIDS/kube-apiserver.pid")" 2>/dev/null; then
      tail -30 "$DIR/logs/kube-apiserver.log" >&2; log "kube-apiserver exited"; return 1
    fi
    sleep 0.1
  done
  log "kube-apiserver not ready after 60s"; return 1
}

up() {
  "$HACK_DIR/build-tools.sh" >/dev/null
  mkdir -p "$PIDS" "$DIR/logs"
  if [ -f "$PIDS/kube-apiserver.pid" ] && kill -0 "$(cat "$PIDS/kube-apiserver.pid")" 2>/dev/null; then
    log "control plane already running in $DIR"; cat "$DIR/env.json"; return 0
  fi
  down >/dev/null 2>&1 || true
  gen_certs; gen_users
  [ -f "$DIR/ports.env" ] || printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPI_PORT=%s\n' "$(free_port)" "$(free_port)" "$(free_port)" > "$DIR/ports.env"
  source "$DIR/ports.env"; source "$DIR/tokens.env"
  local server="https://127.0.0.1:$API_PORT"

  "$TOOLS_BIN/etcd" --name=airlock --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="airlock=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync=true \
    --log-level=warn >> "$DIR/logs/etcd.log" 2>&1 &
  echo $! > "$PIDS/etcd.pid"

  start_apiserver
  wait_ready

  kubeconfig admin "$server" "$admin" "$DIR/admin.kubeconfig"
  kubeconfig airlock "$server" "$airlock" "$DIR/airlock.kubeconfig"
  kubeconfig agent-ci "$server" "$agent_ci" "$DIR/agent-direct.kubeconfig"
  kubeconfig alice "$server" "$alice" "$DIR/approver.kubeconfig"
  kubeconfig bob "$server" "$bob" "$DIR/approver2.kubeconfig"
  kubeconfig mallory "$server" "$mallory" "$DIR/outsider.kubeconfig"

  "$TOOLS_BIN/kube-controller-manager" --kubeconfig="$DIR/admin.kubeconfig" \
    --service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/pki/ca.crt" \
    --leader-elect=false --secure-port=0 --use-service-account-credentials=false \
    --controllers='*,-nodeipam,-nodelifecycle,-service,-route,-cloud-node-lifecycle' \
    --v=1 >> "$DIR/logs/kube-controller-manager.log" 2>&1 &
  echo $! > "$PIDS/kube-controller-manager.pid"

  "$TOOLS_BIN/kube-scheduler" --kubeconfig="$DIR/admin.kubeconfig" --leader-elect=false \
    --secure-port=0 --v=1 >> "$DIR/logs/kube-scheduler.log" 2>&1 &
  echo $! > "$PIDS/kube-scheduler.pid"

  # Baseline RBAC for the test identities (what a cluster admin would grant them).
  "$TOOLS_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" apply -f "$HACK_DIR/manifests/test-rbac.yaml" >/dev/null

  # The default ServiceAccount appears once kube-controller-manager runs; wait so Pods can be created.
  for _ in $(seq 1 300); do
    "$TOOLS_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" -n default get sa default >/dev/null 2>&1 && break
    sleep 0.1
  done

  cat > "$DIR/env.json" <<EOF
{
  "dir": "$DIR",
  "server": "$server",
  "caFile": "$DIR/pki/ca.crt",
  "caKeyFile": "$DIR/pki/ca.key",
  "binDir": "$TOOLS_BIN",
  "kubectl": "$TOOLS_BIN/kubectl",
  "tokens": {"admin": "$admin", "airlock": "$airlock", "agent-ci": "$agent_ci", "alice": "$alice", "bob": "$bob", "mallory": "$mallory"},
  "kubeconfigs": {
    "admin": "$DIR/admin.kubeconfig", "airlock": "$DIR/airlock.kubeconfig", "agent-ci": "$DIR/agent-direct.kubeconfig",
    "alice": "$DIR/approver.kubeconfig", "bob": "$DIR/approver2.kubeconfig", "mallory": "$DIR/outsider.kubeconfig"
  },
  "pids": "$PIDS"
}
EOF
  log "control plane up at $server (state in $DIR)"
  cat "$DIR/env.json"
}

restart_apiserver() {
  stop_pid "$PIDS/kube-apiserver.pid"
  start_apiserver
  wait_ready
  log "kube-apiserver restarted"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 up|down|restart-apiserver [DIR]" >&2; exit 2 ;;
esac
