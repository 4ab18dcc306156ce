#!/usr/bin/env bash
# End-to-end check of the dev container with the devcontainers CLI, on a fresh clone of this repo:
#
#   .devcontainer/check.sh              # about 6 minutes cold (image build), about 1 minute when cached
#
# 1. installs @devcontainers/cli (pinned below) under $CACHE/devcontainers-cli, not into the repo;
# 2. clones the repo (HEAD, plus this working tree's .devcontainer/) into $CACHE/devcontainer-check/todo-chatbot;
# 3. makes the bases (.devcontainer/local-bases.sh: the public images when the engine can pull them);
# 4. `devcontainer up` (without the postCreateCommand's full `make setup`), then inside the container:
#    `make help`, the first step of setup (.venv with both packages), a unit test file, the tools' versions,
#    and the host's engine through the socket (docker-outside-of-docker, as below);
# 5. removes the container and its cache volume (the image stays, as the build cache of the next run).
#
# The container is started unprivileged, with the host's engine socket mounted at /var/run/docker.sock, and on the
# host's network when the engine has no bridge network: this works on machines that refuse privileged containers.
# The privileged default (dockerd and the real node inside) is not exercised here; see README.md, "Dev container".
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/common.sh"

CLI_VERSION="${DEVCONTAINER_CLI_VERSION:-0.89.0}"
CLI_DIR="$CACHE/devcontainers-cli"
WORK="$CACHE/devcontainer-check"
CLONE="$WORK/todo-chatbot"
t_start=$SECONDS
step() { log "[$((SECONDS - t_start)) s] $*"; }

# 1. the CLI
if [[ "$("$CLI_DIR/node_modules/.bin/devcontainer" --version 2>/dev/null)" != "$CLI_VERSION" ]]; then
  step "npm install @devcontainers/cli@$CLI_VERSION into $CLI_DIR"
  mkdir -p "$CLI_DIR"
  npm install --silent --no-audit --no-fund --prefix "$CLI_DIR" "@devcontainers/cli@$CLI_VERSION" >&2
fi
DC="$CLI_DIR/node_modules/.bin/devcontainer"

DOCKER_HOST="$("$ROOT/scripts/engine.sh")"
export DOCKER_HOST

# 2. a fresh clone, with the working tree's .devcontainer/ (so uncommitted changes are what gets checked)
step "fresh clone of $ROOT into $CLONE"
if [[ -d $CLONE ]]; then
  # The previous run's container (if a run was interrupted) goes first: it holds the clone as its workspace.
  ids="$(docker ps -aq --filter "label=devcontainer.local_folder=$CLONE" 2>/dev/null || true)"
  [[ -z $ids ]] || docker rm -f -v $ids >/dev/null 2>&1 || true
  rm -rf "$CLONE"
fi
mkdir -p "$WORK"
git clone --quiet "$ROOT" "$CLONE"
rm -rf "$CLONE/.devcontainer" && cp -a "$ROOT/.devcontainer" "$CLONE/.devcontainer"

# 3. the bases (and DOCKER_HOST)
step "bases: .devcontainer/local-bases.sh"
eval "$("$CLONE/.devcontainer/local-bases.sh")"
export DOCKER_BUILDKIT=0  # the classic builder: every engine has it (BuildKit may want images from Docker Hub)
export DEVCONTAINER_PRIVILEGED=false
docker network inspect bridge >/dev/null 2>&1 || export DEVCONTAINER_NETWORK=host
sock="${DOCKER_HOST#unix://}"
[[ -S $sock ]] || die "the engine is not a local unix socket ($DOCKER_HOST): cannot mount it into the container"

cid=""
cleanup() {
  if [[ -n $cid ]]; then
    local volumes
    volumes="$(docker inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}' "$cid" 2>/dev/null || true)"
    docker rm -f "$cid" >/dev/null 2>&1 || true
    [[ -z $volumes ]] || docker volume rm $volumes >/dev/null 2>&1 || true
  fi
  rm -rf "$CLONE"
}
trap cleanup EXIT

# 4. up, then the README's commands inside
step "devcontainer up (log: $WORK/up.log)"
t0=$SECONDS
if ! "$DC" up --workspace-folder "$CLONE" --skip-post-create --remove-existing-container \
     --mount "type=bind,source=$sock,target=/var/run/docker.sock" >"$WORK/up.log" 2>&1; then
  die "devcontainer up failed (full log: $WORK/up.log):
$(tail -n 25 "$WORK/up.log")"
fi
cid="$(tail -n 1 "$WORK/up.log" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["containerId"])')"
step "container ${cid:0:12} up in $((SECONDS - t0)) s"

in_container() { "$DC" exec --workspace-folder "$CLONE" "$@"; }

step "make help"
in_container make help
step "tools"
in_container bash -c 'set -e; python3.11 --version; echo "node $(node --version), npm $(npm --version)"; go version
  git --version; make --version | head -n 1; gcc --version | head -n 1; docker --version; containerd --version
  runc --version | head -n 1; chromium --version; ls -d /usr/lib/postgresql/*/bin/initdb
  echo "engine: $(scripts/engine.sh) (server $(docker version --format "{{.Server.Version}}"))"'
step "setup's first step: .venv with ops-mcp and backend-app"
t0=$SECONDS
in_container bash -c 'set -e; python3.11 -m venv .venv; .venv/bin/pip install --quiet --disable-pip-version-check uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[test]" -e "./backend-app[test]"'
step ".venv ready in $((SECONDS - t0)) s"
step "pytest tests/ops/test_ops_listing.py"
in_container .venv/bin/pytest tests/ops/test_ops_listing.py -q -p no:cacheprovider
step "dev container check passed in $((SECONDS - t_start)) s"
