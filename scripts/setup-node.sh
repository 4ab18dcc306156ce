#!/usr/bin/env bash
# The Debian packages the real kubelet node needs (tests/cluster/node.py): containerd and runc
# (the kubelet's runtime), the CNI plugins (the pods' bridge), socat (the API server as pods see
# it), iptables and conntrack (kube-proxy), ipset (kube-router's NetworkPolicies), openssl (the node's
# certificate), iproute2.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

declare -A need=([containerd]=containerd [ctr]=containerd [runc]=runc [socat]=socat [iptables]=iptables
                 [conntrack]=conntrack [openssl]=openssl [ip]=iproute2 [ipset]=ipset)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/firewall ]] || missing+=(containernetworking-plugins)
if ((${#missing[@]})); then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  apt_install "${missing[@]}"
fi
