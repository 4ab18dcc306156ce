#!/usr/bin/env bash
# Quick iteration without images: the components as host processes on embedded defaults (SQLite,
# the sandbox cluster for ops-mcp) until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
server="frontend/.next/standalone/server.js"
if [[ ! -f "$server" || -n "$(find frontend/src frontend/package-lock.json -newer "$server" -print -quit)" ]]; then
  log "building the frontend (next build)"
  (cd frontend && npm run build)
fi
exec .venv/bin/python scripts/dev.py
