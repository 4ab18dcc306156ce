#!/usr/bin/env bash
# Remove the Todo Chatbot from Minikube; with --delete, delete the Minikube profile too.
set -euo pipefail
PROFILE="${MINIKUBE_PROFILE:-todo-chatbot}"
NAMESPACE="${NAMESPACE:-todo}"
RELEASE="${RELEASE:-todo-chatbot}"
PATH="${TODO_CHATBOT_CACHE:-$HOME/.cache/todo-chatbot}/bin:$PATH"

command -v minikube >/dev/null 2>&1 \
  || { echo "error: minikube is not installed, so there is no Minikube cluster to clean up" >&2; exit 1; }
if [[ "${1:-}" == "--delete" ]]; then
  minikube delete -p "$PROFILE"
  exit 0
fi
command -v helm >/dev/null 2>&1 || { echo "error: helm is not installed: run scripts/toolchain.sh" >&2; exit 1; }
helm uninstall "$RELEASE" --kube-context "$PROFILE" -n "$NAMESPACE" --wait --ignore-not-found
echo "uninstalled $RELEASE from $NAMESPACE (the PostgreSQL volume and the auth database volume are kept; delete the namespace to drop them)"
