#!/usr/bin/env bash
# Set everything up, then run every test: the Python suite (ops-mcp, diagnosis,
# backend, chart, agent, evals, against the real control plane and databases),
# then the frontend's lint, types, unit tests, build and browser end-to-end tests.
# Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"

log "Python tests (pytest)"
.venv/bin/pytest "$@"

log "frontend: lint, typecheck, unit tests, build, end-to-end in Chromium"
cd "$ROOT/frontend"
npm run --silent lint
npm run --silent typecheck
npm test
npm run build
npm run size
npm run e2e
