#!/usr/bin/env bash
# Set up everything the project needs on a fresh machine, idempotently:
# the Python virtualenv with both packages, the Kubernetes toolchain, the test
# PostgreSQL, the real node's packages, the frontend's packages and browser, a container engine and the
# project's images. Safe to run again; it only does what is missing.
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

"$ROOT/scripts/toolchain.sh"
"$ROOT/scripts/setup-node.sh"
"$ROOT/scripts/setup-postgres.sh" >/dev/null
"$ROOT/scripts/setup-frontend.sh"
"$ROOT/scripts/engine.sh" >/dev/null
"$ROOT/scripts/images.sh"
