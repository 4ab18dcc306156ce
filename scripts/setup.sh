#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, idempotently:
# the Python virtualenv with both packages, the Kubernetes toolchain, the test
# PostgreSQL, the real node's packages, the frontend's packages and browser, a container engine, Docker
# Compose and the project's images. Safe to run again; it only does what is missing.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

command -v "$PYTHON" >/dev/null || die "$PYTHON is required (the project targets Python 3.11)"
if [[ ! -x .venv/bin/python ]]; then
  log "creating .venv with $PYTHON"
  "$PYTHON" -m venv .venv
fi
[[ -x .venv/bin/uv ]] || .venv/bin/pip install --quiet --disable-pip-version-check uv
log "installing ops-mcp and backend-app (editable) into .venv"
.venv/bin/uv pip install --quiet --python .venv/bin/python -e ".[test]" -e "./backend-app[test]"

# kagent's agent runtime, for the test that runs k8s/kagent's Agent with it: its own virtualenv (its pins clash
# with .venv's MCP SDK), from a lock, reinstalled only when the lock changes.
KAGENT_VENV="$CACHE/kagent-adk"
want="$(sha256sum tests/clients/kagent-requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$KAGENT_VENV/bin/python" || "$(cat "$KAGENT_VENV/.lock.sha256" 2>/dev/null)" != "$want" ]]; then
  log "installing kagent-adk (tests/clients/kagent-requirements.txt) into $KAGENT_VENV"
  rm -rf "$KAGENT_VENV"
  .venv/bin/uv venv --quiet --python .venv/bin/python "$KAGENT_VENV"
  .venv/bin/uv pip install --quiet --python "$KAGENT_VENV/bin/python" --no-deps -r tests/clients/kagent-requirements.txt
  echo "$want" > "$KAGENT_VENV/.lock.sha256"
fi

"$ROOT/scripts/toolchain.sh"
"$ROOT/scripts/setup-node.sh"
"$ROOT/scripts/setup-postgres.sh" >/dev/null
"$ROOT/scripts/setup-frontend.sh"
"$ROOT/scripts/engine.sh" >/dev/null
# Docker Compose for docker-compose.yml and its test (tests/compose): the CLI's v2 plugin, else Debian's docker-compose.
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || apt_install docker-compose
"$ROOT/scripts/images.sh"
