#!/usr/bin/env bash
# Prepares the frontend on this machine; safe to run again (does only what is missing):
#   - Debian's chromium at /usr/bin/chromium (the e2e browser), and a C++ toolchain for better-sqlite3;
#   - `npm ci` in frontend/ when node_modules is missing or older than package-lock.json.
# Better Auth's tables are created by the frontend server itself when it starts.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

FRONTEND="$ROOT/frontend"

command -v node >/dev/null || die "node is not installed: the frontend needs Node.js 20 (>= 20.19) with npm"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || die "Node.js $(node --version) is too old: the frontend needs >= 20.19"

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
# better-sqlite3 compiles its native module when no prebuilt binary can be fetched.
command -v make >/dev/null || missing+=(make)
command -v g++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then apt_install "${missing[@]}"; fi

# node-gyp builds against the installed Node's headers instead of downloading them.
if [[ -z "${npm_config_nodedir:-}" && -f /usr/include/node/node.h ]]; then
  export npm_config_nodedir=/usr
fi

stamp="$FRONTEND/node_modules/.setup-frontend.sha256"
want="$(sha256sum "$FRONTEND/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
   && (cd "$FRONTEND" && node -e 'new (require("better-sqlite3"))(":memory:").close()' 2>/dev/null); then
  log "frontend/node_modules is up to date"
else
  log "npm ci in frontend/ (compiles better-sqlite3: a few minutes on 2 cores)"
  (cd "$FRONTEND" && npm ci --no-audit --no-fund)
  (cd "$FRONTEND" && node -e 'new (require("better-sqlite3"))(":memory:").close()') \
    || die "better-sqlite3 did not build: check that make, g++ and python3 work, then rerun"
  echo "$want" > "$stamp"
fi

# The real MCP clients the tests drive ops-mcp with (the MCP Inspector's CLI), pinned by tests/clients' lockfile.
CLIENTS="$ROOT/tests/clients"
stamp="$CLIENTS/node_modules/.setup-clients.sha256"
want="$(sha256sum "$CLIENTS/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$CLIENTS/node_modules/.bin/mcp-inspector" ]]; then
  log "tests/clients/node_modules is up to date"
else
  log "npm ci in tests/clients/ (the MCP Inspector CLI)"
  (cd "$CLIENTS" && npm ci --no-audit --no-fund --ignore-scripts)
  echo "$want" > "$stamp"
fi
