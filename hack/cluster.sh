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
    p=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
}

stop_pid() {
  local f="$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
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
  # A pool of agents (airlock:agents) for load that must not look like one agent to per-agent rate limits.
  : > "$DIR/agent-pool.tokens"
  local i
  for i in $(seq -w 1 32); do
    t="$(token)"
    echo "${t},agent-pool-${i},uid-agent-pool-${i},\"airlock:agents\"" >> "$DIR/tokens.csv"
    echo "$t" >> "$DIR/agent-pool.tokens"
  done
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
  # Ports are picked at random below the ephemeral range; parallel runs can still race for one, so a
  # start that fails with "address already in use" is retried on fresh ports (only for a fresh data dir).
  local fresh=1 attempt
  [ -d "$DIR/etcd" ] && fresh=0
  for attempt in 1 2 3 4 5; do
    [ -f "$DIR/ports.env" ] || printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPI_PORT=%s\n' "$(free_port)" "$(free_port)" "$(free_port)" > "$DIR/ports.env"
    source "$DIR/ports.env"; source "$DIR/tokens.env"
    : > "$DIR/logs/etcd.log"; : > "$DIR/logs/kube-apiserver.log"
    "$TOOLS_BIN/etcd" --name=airlock --data-dir="$DIR/etcd" \
      --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster="airlock=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync=true \
      --log-level=warn >> "$DIR/logs/etcd.log" 2>&1 &
    echo $! > "$PIDS/etcd.pid"
    local etcd_ok=0
    for _ in $(seq 1 100); do
      if curl -fsS "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1; then etcd_ok=1; break; fi
      kill -0 "$(cat "$PIDS/etcd.pid")" 2>/dev/null || break
      sleep 0.1
    done
    if [ "$etcd_ok" = 1 ]; then
      start_apiserver
      wait_ready && break
    fi
    if [ "$fresh" = 1 ] && grep -qi "address already in use" "$DIR/logs/etcd.log" "$DIR/logs/kube-apiserver.log"; then
      log "port collision (attempt $attempt); retrying on other ports"
      stop_pid "$PIDS/kube-apiserver.pid"; stop_pid "$PIDS/etcd.pid"
      rm -rf "$DIR/etcd" "$DIR/ports.env"
      continue
    fi
    tail -20 "$DIR/logs/etcd.log" >&2; log "control plane failed to start"; return 1
  done
  local server="https://127.0.0.1:$API_PORT"

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
  "agentPoolTokens": "$DIR/agent-pool.tokens",
  "pids": "$PIDS"
}
EOF
  start_kwok
  log "control plane up at $server (state in $DIR)"
  cat "$DIR/env.json"
}

# ---------------------------------------------------------------------------------------------------------
# kwok: one fake Node ("kwok-node") whose Pods become Running, with kwok serving the kubelet API on
# loopback so exec, attach, port-forward and logs (incl. -f) work end to end (ClusterExec runs the command
# on this machine in DIR/kwok; ClusterLogs serves DIR/kwok/pod.log; attach streams DIR/kwok/attach.log;
# every forwarded port echoes). The node is tainted
# kwok.x-k8s.io/node=fake:NoSchedule, so only Pods that tolerate it land there; other Pods stay Pending.
# ---------------------------------------------------------------------------------------------------------
start_kwok() {
  if [ ! -x "$TOOLS_BIN/kwok" ]; then log "kwok not built; no fake node"; return 0; fi
  # shellcheck disable=SC1091
  source "$DIR/ports.env"
  local k="$DIR/kwok"
  mkdir -p "$k"
  if [ ! -f "$k/kwok.crt" ]; then
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kwok-node" -keyout "$k/kwok.key" -out "$k/kwok.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kwok-node\nextendedKeyUsage=serverAuth\n' > "$k/kwok.ext"
    openssl x509 -req -in "$k/kwok.csr" -CA "$DIR/pki/ca.crt" -CAkey "$DIR/pki/ca.key" -CAcreateserial \
      -CAserial "$k/ca.srl" -days 3650 -extfile "$k/kwok.ext" -out "$k/kwok.crt" 2>/dev/null
  fi
  # CRI log format, as kubelet reads container logs; two lines carry secret-looking values (masking tests).
  printf '2026-01-01T00:00:0%sZ stdout F %s\n' 1 'starting app' 2 'connected to db with password=hunter2' \
    3 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' 4 'ready' > "$k/pod.log"
  # What `kubectl attach` shows of any pod, in CRI log format, followed from its end (tests append to it).
  [ -f "$k/attach.log" ] || printf '2026-01-01T00:00:00Z stdout F attached to the app\n' > "$k/attach.log"
  # kwok's own stage manifests (node initialise + heartbeat, pod ready/complete/delete), from the module
  # source that `go install` of kwok left in the Go module cache.
  local stages modcache
  modcache="$(go env GOMODCACHE 2>/dev/null || true)"
  stages="${modcache:-$HOME/go/pkg/mod}/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage"
  if [ ! -f "$stages/node/fast/node-initialize.yaml" ]; then log "kwok stages not found under $stages; no fake node"; return 0; fi
  {
    for f in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat/node-heartbeat.yaml \
      "$stages"/pod/fast/pod-ready.yaml "$stages"/pod/fast/pod-complete.yaml "$stages"/pod/fast/pod-delete.yaml; do
      cat "$f"; printf '\n---\n'
    done
  } > "$k/kwok.yaml"
  cat >> "$k/kwok.yaml" <<KWOKCONFIG
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: airlock-test-logs}
spec:
  logs:
  - logsFile: $k/pod.log
    follow: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata: {name: airlock-test-exec}
spec:
  execs:
  - local:
      workDir: $k
      # What a pod's env would hold: the exec masking tests give a pod a Secret with this value.
      envs:
      - {name: AIRLOCK_EXEC_CANARY, value: cnryexecenv5c1f0e9a7d3b2468}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterAttach
metadata: {name: airlock-test-attach}
spec:
  attaches:
  - logsFile: $k/attach.log
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterPortForward
metadata: {name: airlock-test-echo}
spec:
  forwards:
  - command: [cat]
KWOKCONFIG
  # The port is picked below the kernel's ephemeral range (a port an outgoing connection holds is not
  # connectable but cannot be bound either); a lost race for it is retried with another port.
  local attempt
  for attempt in 1 2 3 4 5; do
    if [ -z "${KWOK_PORT:-}" ] || [ "$attempt" -gt 1 ]; then
      while :; do
        KWOK_PORT=$(( 20000 + RANDOM % 12000 ))
        (exec 3<>"/dev/tcp/127.0.0.1/$KWOK_PORT") 2>/dev/null || break
      done
      sed -i '/^KWOK_PORT=/d' "$DIR/ports.env"; echo "KWOK_PORT=$KWOK_PORT" >> "$DIR/ports.env"
    fi
    "$TOOLS_BIN/kwok" --kubeconfig="$DIR/admin.kubeconfig" --config="$k/kwok.yaml" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --node-ip=127.0.0.1 --node-port="$KWOK_PORT" --server-address="127.0.0.1:$KWOK_PORT" \
      --tls-cert-file="$k/kwok.crt" --tls-private-key-file="$k/kwok.key" \
      >> "$DIR/logs/kwok.log" 2>&1 &
    echo $! > "$PIDS/kwok.pid"
    sleep 0.5
    if kill -0 "$(cat "$PIDS/kwok.pid")" 2>/dev/null; then break; fi
    if ! tail -3 "$DIR/logs/kwok.log" | grep -q 'address already in use'; then break; fi
    log "kwok port $KWOK_PORT taken; retrying"
  done
  "$TOOLS_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" apply -f - >/dev/null <<KWOKNODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {kubernetes.io/hostname: kwok-node, kubernetes.io/os: linux, type: kwok}
spec:
  taints: [{key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}]
KWOKNODE
  for _ in $(seq 1 100); do
    if "$TOOLS_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" get node kwok-node \
      -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
      # kube-apiserver taints new nodes not-ready; the node lifecycle controller that would lift it is off here.
      "$TOOLS_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" taint nodes kwok-node \
        node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
      return 0
    fi
    if ! kill -0 "$(cat "$PIDS/kwok.pid")" 2>/dev/null; then
      tail -20 "$DIR/logs/kwok.log" >&2; log "kwok exited"; return 1
    fi
    sleep 0.1
  done
  log "kwok node not Ready after 10s"; return 1
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
