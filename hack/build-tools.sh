#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd)
# and the optional kwok and opa binaries into $TOOLS_BIN. Prints the bin dir. Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir -p "$TOOLS_BIN"
need=()
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do
  [ -x "$TOOLS_BIN/$b" ] || need+=("./$b")
done
if [ ${#need[@]} -gt 0 ]; then
  log "building ${need[*]} ($KUBE_VERSION) into $TOOLS_BIN (first time only, a few minutes)"
  minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  (cd "$HACK_DIR/tools" && GOFLAGS=-mod=mod go build -trimpath -o "$TOOLS_BIN/" -ldflags "$ldflags" "${need[@]}")
fi
if [ ! -x "$TOOLS_BIN/kwok" ]; then
  log "installing kwok $KWOK_VERSION"
  GOBIN="$TOOLS_BIN" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
if [ ! -x "$TOOLS_BIN/opa" ]; then
  log "installing opa $OPA_VERSION"
  GOBIN="$TOOLS_BIN" go install "github.com/open-policy-agent/opa@$OPA_VERSION"
fi
echo "$TOOLS_BIN"
