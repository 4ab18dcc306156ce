#!/usr/bin/env bash
# For machines that cannot pull from Docker Hub: make the dev container's three bases locally and print
# the variables that .devcontainer/devcontainer.json passes to its Dockerfile (the only lines on stdout):
#
#   eval "$(.devcontainer/local-bases.sh)"      # exports DOCKER_HOST and DEVCONTAINER_{BASE,NODE,GO}_IMAGE
#   devcontainer up --workspace-folder .
#
# - The engine is scripts/engine.sh's (it installs and starts one when none answers).
# - Each public default (debian:bookworm, node:20-bookworm-slim, golang:1.26-bookworm) is used when the engine
#   has it or can pull it; then nothing is printed for it and the Dockerfile's default applies.
# - Otherwise: Debian and Node are scripts/images.sh's debootstrap bases (todo-chatbot/base-python:bookworm,
#   todo-chatbot/base-node:20-bookworm: a minbase bookworm from the Debian mirror apt uses, with this
#   machine's CA bundle, and this machine's Node 20), made by running `scripts/images.sh backend frontend`
#   when they are missing (which also builds those two images: about 5 minutes cold, seconds when cached);
#   Go is this machine's GOROOT (Go 1.26+) imported as todo-chatbot/go:<version> with /usr/local/go inside.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

DOCKER_HOST="$("$ROOT/scripts/engine.sh")"
export DOCKER_HOST
printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"

present() { docker image inspect "$1" >/dev/null 2>&1; }
# usable PUBLIC: the engine has it, or can pull it (one try, bounded).
usable() {
  present "$1" && return 0
  log "trying docker pull $1"
  timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

PY_LOCAL=todo-chatbot/base-python:bookworm
NODE_LOCAL=todo-chatbot/base-node:20-bookworm

need_images=()
usable debian:bookworm || present "$PY_LOCAL" || need_images+=(backend)
usable node:20-bookworm-slim || present "$NODE_LOCAL" || need_images+=(frontend)
if ((${#need_images[@]})); then
  log "making the local bases with scripts/images.sh ${need_images[*]}"
  "$ROOT/scripts/images.sh" "${need_images[@]}" >&2
fi
present debian:bookworm || { present "$PY_LOCAL" && printf 'export DEVCONTAINER_BASE_IMAGE=%q\n' "$PY_LOCAL"; } \
  || die "neither debian:bookworm nor $PY_LOCAL is in the engine"
present node:20-bookworm-slim || { present "$NODE_LOCAL" && printf 'export DEVCONTAINER_NODE_IMAGE=%q\n' "$NODE_LOCAL"; } \
  || die "neither node:20-bookworm-slim nor $NODE_LOCAL is in the engine"

if ! usable golang:1.26-bookworm; then
  command -v go >/dev/null || die "no golang:1.26-bookworm and no Go on this machine to import (Go 1.26+)"
  goroot="$(go env GOROOT)" version="$(go env GOVERSION)"
  [[ "$(printf '%s\n' go1.26 "$version" | sort -V | head -n 1)" == go1.26 ]] \
    || die "this machine's Go is $version; the toolchain needs Go 1.26+"
  GO_LOCAL="todo-chatbot/go:$version"
  if ! present "$GO_LOCAL"; then
    log "importing $goroot as $GO_LOCAL (/usr/local/go)"
    tar -C "$goroot/.." --numeric-owner --owner=0 --group=0 --transform "s,^$(basename "$goroot"),usr/local/go,S" \
      -c "$(basename "$goroot")" | docker import - "$GO_LOCAL" >/dev/null
  fi
  printf 'export DEVCONTAINER_GO_IMAGE=%q\n' "$GO_LOCAL"
fi
