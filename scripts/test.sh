#!/usr/bin/env bash
# Set everything up, then run every test. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
log "running the Python test suite (pytest)"
.venv/bin/pytest "$@"
