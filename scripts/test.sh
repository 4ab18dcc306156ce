#!/usr/bin/env bash
# Set everything up, then run every test: the frontend's lint, types, unit tests
# and build; the Python suite (ops-mcp, diagnosis, backend, chart, agents, evals,
# against the real control plane and databases); the browser end-to-end tests.
# Extra arguments go to pytest. Each suite's output is kept in artifacts/test-logs/.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
export NO_COLOR=1 FORCE_COLOR=0
logs="$ROOT/artifacts/test-logs"
mkdir -p "$logs"

# Each part's time is printed at the end (pytest's own lines "time by part" split the Python suite).
parts=()
lap() { parts+=("$1 $(( SECONDS - start ))s"); start=$SECONDS; }
start=$SECONDS

"$ROOT/scripts/setup.sh"
lap setup

log "frontend: lint, typecheck, unit tests, production build"
(cd frontend && npm run --silent lint && npm run --silent typecheck)
(cd frontend && npm test) 2>&1 | tee "$logs/frontend-unit.log"
(cd frontend && npm run build && npm run size)
lap frontend

# After the build: the chart's contract tests start the built frontend server.
log "Python tests (pytest)"
# Two lanes: the real node's tests in one worker, the rest in the other (tests/conftest.py).
.venv/bin/pytest -n 2 --dist loadgroup --durations=15 "$@" 2>&1 | tee "$logs/pytest.log"
lap pytest

log "frontend: end-to-end in Chromium"
(cd frontend && npm run e2e) 2>&1 | tee "$logs/frontend-e2e.log"
lap e2e

# One line for all three runners (each already stopped the run on any failure).
count() { grep -Eo "$2" "$logs/$1" | tail -n 1 | grep -Eo '[0-9]+' | head -n 1 || echo 0; }
py=$(count pytest.log '[0-9]+ passed'); unit=$(count frontend-unit.log 'Tests +[0-9]+ passed'); e2e=$(count frontend-e2e.log '# pass [0-9]+')
skipped=$(grep -Eo '[0-9]+ skipped' "$logs/pytest.log" | tail -n 1 | grep -Eo '[0-9]+' || true)
log "pytest $py passed, frontend unit $unit passed, frontend e2e $e2e passed"
log "time: ${parts[*]}, all ${SECONDS}s"
echo "all: $((py + unit + e2e)) passed, 0 failed${skipped:+, $skipped skipped}"
