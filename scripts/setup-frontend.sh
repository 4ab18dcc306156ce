#!/usr/bin/env bash
# Prepares the frontend on this machine; safe to run again (does only what is missing):
#   - Debian's chromium at /usr/bin/chromium (the e2e browser), and a C++ toolchain for better-sqlite3;
#   - `npm ci` in frontend/ when node_modules is missing or older than package-lock.json (or a copy of what it
#     made for this lockfile and Node, kept in the cache).
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
sqlite_works() { (cd "$FRONTEND" && node -e 'new (require("better-sqlite3"))(":memory:").close()' 2>/dev/null); }
# A copy of what `npm ci` made for this lockfile and this Node (better-sqlite3's native module is built for it): a
# fresh clone copies it in seconds instead of compiling for a minute. Checked like a new install; dropped if it fails.
saved="$CACHE/npm/frontend-${want:0:16}-node$(node --version)-$(uname -m)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && sqlite_works; then
  log "frontend/node_modules is up to date"
elif [[ -f "$saved/.setup-frontend.sha256" ]] && rm -rf "$FRONTEND/node_modules" && cp -a "$saved" "$FRONTEND/node_modules" && sqlite_works; then
  log "frontend/node_modules copied from $saved (what npm ci made for this package-lock.json)"
else
  rm -rf "$saved"
  log "npm ci in frontend/ (compiles better-sqlite3: a few minutes on 2 cores)"
  (cd "$FRONTEND" && npm ci --no-audit --no-fund)
  sqlite_works || die "better-sqlite3 did not build: check that make, g++ and python3 work, then rerun"
  echo "$want" > "$stamp"
  # keep this lockfile's copy only (each is ~600 MB); written aside, then moved, so a half copy is never used
  mkdir -p "$CACHE/npm" && rm -rf "$CACHE"/npm/frontend-* && cp -a "$FRONTEND/node_modules" "$saved.partial" && mv "$saved.partial" "$saved"
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
