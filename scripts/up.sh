#!/usr/bin/env bash
# The main job: set everything up, then run the whole system locally on
# embedded defaults (SQLite, the sandbox control plane) until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
exec .venv/bin/python scripts/up.py
