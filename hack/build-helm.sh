#!/usr/bin/env bash
# Builds helm (v3) from the Go module proxy into the tools cache ($TOOLS_BIN, see hack/lib.sh) and prints
# the path of the binary. Idempotent: a second run only prints the path. Override with HELM_VERSION=vX.Y.Z.
# Like helm's own Makefile, the default Kubernetes version for `helm template`/`helm lint` is derived from
# the k8s.io/client-go version helm is built with (client-go v0.X.Y -> Kubernetes 1.X).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HELM_VERSION="${HELM_VERSION:-v3.21.4}"
HELM_BIN="$TOOLS_BIN/helm-$HELM_VERSION"
if [ ! -x "$HELM_BIN" ]; then
  log "installing helm $HELM_VERSION into $TOOLS_BIN (first time only, about a minute)"
  gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  cg="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"
  [ -n "$cg" ] || { log "cannot find the k8s.io/client-go version in $gomod"; exit 1; }
  minor="$(echo "$cg" | cut -d. -f2)"
  pkg="helm.sh/helm/v3"
  ldflags="-s -w -X $pkg/internal/version.version=$HELM_VERSION -X $pkg/internal/version.gitTreeState=clean"
  ldflags+=" -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$minor"
  ldflags+=" -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$minor"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$pkg/cmd/helm@$HELM_VERSION"
  mkdir -p "$TOOLS_BIN"
  mv "$tmp/helm" "$HELM_BIN"
fi
echo "$HELM_BIN"
