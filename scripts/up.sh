#!/usr/bin/env bash
# The main job: set everything up (toolchain, engine, images), then run the Todo Chatbot on the
# local Kubernetes cluster (a real node) and forward it to http://localhost:3000 until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

start=$SECONDS
"$ROOT/scripts/setup.sh"
TODO_UP_SETUP_SECONDS=$((SECONDS - start)) exec .venv/bin/python scripts/up.py
