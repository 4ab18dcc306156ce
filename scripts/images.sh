#!/usr/bin/env bash
# Build the project's images and record them in $CACHE/images/images.json ($IMAGES_JSON if set):
#   {"backend": "todo-chatbot/backend:<tag>", "frontend": "todo-chatbot/frontend:<tag>", "ops-mcp": "todo-chatbot/ops-mcp:<tag>"}
#
#   scripts/images.sh [backend|frontend|ops-mcp ...]     (default: all three)
#
# - Engine: whatever scripts/engine.sh prints (it installs and starts one when none answers).
# - Bases: the Dockerfiles' public defaults (python:3.11-slim-bookworm, node:20-bookworm-slim) when
#   the engine has them or can pull them; otherwise equivalent local bases made once with debootstrap
#   from Debian packages, carrying this machine's CA bundle, and passed as build arguments.
#   ops-mcp gets the toolchain's pinned helm ($BIN/helm) as a one-file image.
# - Tags come from the image ID: an unchanged build is all cache hits and keeps its ref; a change
#   (e.g. under backend-app/) gives that image a new ID, hence a new ref, and leaves the others alone.
# - A new image is recorded only after its smoke test: uid 10001, read-only root filesystem, its
#   health endpoint answering, exit 0 within seconds of SIGTERM. The smoke containers run with
#   --network none and are probed from inside: no traffic leaves them.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

OUT="$CACHE/images"
JSON="${IMAGES_JSON:-$OUT/images.json}"
mkdir -p "$OUT"
DOCKER_HOST="$("$ROOT/scripts/engine.sh")"
export DOCKER_HOST DOCKER_BUILDKIT=0  # the classic builder: every engine has it

PYTHON_PUBLIC=python:3.11-slim-bookworm
NODE_PUBLIC=node:20-bookworm-slim
SUITE=bookworm
# The CA bundle this machine trusts (it may hold a TLS-intercepting proxy's CA): into local bases only.
CA_BUNDLE="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
UID_EXPECTED=10001

present() { docker image inspect "$1" >/dev/null 2>&1; }
label() { docker image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null; }

smoke_containers=()
cleanup() {
  local c
  for c in "${smoke_containers[@]}"; do docker rm -f -v "$c" >/dev/null 2>&1 || true; done
  if [[ -n "${rootfs:-}" && -d "$rootfs" ]]; then as_root rm -rf "$rootfs"; fi
}
trap cleanup EXIT

# --- base images --------------------------------------------------------------------------------

debian_mirror() {
  # The URI apt itself uses for the suite (the machine's mirror or proxy), else Debian's CDN.
  local uri
  uri="$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk -v s="$SUITE" '$2 == s {print $1; exit}')"
  [[ -n "$uri" ]] || uri="$(apt-get indextargets --format '$(SITE)' 2>/dev/null | grep -m1 '/debian/*$' || true)"
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# make_rootfs KIND PACKAGES: debootstrap a minbase rootfs into $rootfs, trimmed like Debian's slim images.
make_rootfs() {
  [[ $EUID -eq 0 ]] || command -v sudo >/dev/null || die "no $PYTHON_PUBLIC / $NODE_PUBLIC in the engine and \
none could be pulled; building a local base needs root (debootstrap): rerun as root or with sudo"
  command -v debootstrap >/dev/null || apt_install debootstrap \
    || die "debootstrap is missing and could not be installed: apt-get install debootstrap (as root), then rerun"
  local mirror; mirror="$(debian_mirror)"
  rootfs="$OUT/rootfs-$1.tmp"
  as_root rm -rf "$rootfs"
  log "debootstrap $SUITE ($1 base, from $mirror; about a minute)"
  mkdir -p "$OUT/debootstrap-cache"
  if ! as_root debootstrap --variant=minbase ${2:+--include="$2"} --cache-dir="$OUT/debootstrap-cache" \
         "$SUITE" "$rootfs" "$mirror" >"$OUT/debootstrap-$1.log" 2>&1; then
    die "debootstrap of the $1 base failed (full log: $OUT/debootstrap-$1.log):
$(tail -n 15 "$OUT/debootstrap-$1.log")"
  fi
  as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man \
    "$rootfs"/usr/share/info "$rootfs"/usr/share/locale
  as_root find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  # As in Debian's slim images: later apt installs (in the Dockerfiles) skip docs too.
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    | as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/slim" >/dev/null
  as_root install -D -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # A copy no package trigger regenerates: the variables below point here.
  as_root install -D -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/machine-ca-bundle.pem"
}

CA_ENV=(SSL_CERT_FILE=/etc/ssl/machine-ca-bundle.pem REQUESTS_CA_BUNDLE=/etc/ssl/machine-ca-bundle.pem
        PIP_CERT=/etc/ssl/machine-ca-bundle.pem NODE_EXTRA_CA_CERTS=/etc/ssl/machine-ca-bundle.pem)
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# import_base NAME KEY TARBALL CMD ENV...: the rootfs tarball as image NAME labelled with KEY.
import_base() {
  local name=$1 key=$2 tarball=$3 cmd=$4 changes=() kv; shift 4
  for kv in "$PATH_ENV" LANG=C.UTF-8 "${CA_ENV[@]}" "$@"; do changes+=(--change "ENV $kv"); done
  docker import "${changes[@]}" --change "LABEL todo-chatbot.base-recipe=$key" --change "CMD $cmd" \
    "$tarball" "$name" >/dev/null
}

python_rootfs() {
  make_rootfs python python3,python3-venv,ca-certificates
  as_root ln -s python3 "$rootfs/usr/bin/python"  # the official image has `python`
}

node_rootfs() {
  # This machine's Node 20 (binary, npm, headers) in the official image's layout under /usr/local.
  local exe prefix npm_dir
  exe="$(node -p process.execPath)"; prefix="$(dirname "$(dirname "$exe")")"; npm_dir="$(npm root -g)/npm"
  [[ -f "$prefix/include/node/node.h" ]] || die "no Node headers at $prefix/include/node (node-gyp needs them to \
compile better-sqlite3 offline): install Node.js 20 with its headers (e.g. NodeSource's nodejs package)"
  [[ -f "$npm_dir/bin/npm-cli.js" ]] || die "npm not found at $npm_dir"
  make_rootfs node ""
  as_root install -D -m 0755 "$exe" "$rootfs/usr/local/bin/node"
  as_root mkdir -p "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
  as_root cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  as_root cp -a "$prefix/include/node" "$rootfs/usr/local/include/node"
  as_root ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  as_root ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
}

# base KIND PUBLIC LOCAL: set BASE to the image to build on (no subshell: the EXIT trap cleans up).
base() {
  local kind=$1 public=$2 name=$3 key tarball
  BASE=$public
  present "$public" && return
  # r1: the recipe's version (bump it when *_rootfs or import_base change); the CA bundle; node's version.
  key="$kind-$SUITE-r1-$(sha256sum "$CA_BUNDLE" | cut -c1-12)"
  [[ $kind == node ]] && key+="-node$(node --version)"
  BASE=$name
  [[ "$(label "$name" todo-chatbot.base-recipe)" == "$key" ]] && return
  log "trying docker pull $public (once; a local base is built when it fails)"
  if timeout 60 docker pull -q "$public" >/dev/null 2>&1; then BASE=$public; return; fi
  tarball="$OUT/base-$key.tar"
  if [[ ! -s "$tarball" ]]; then
    local t0=$SECONDS
    "${kind}_rootfs"
    as_root tar -C "$rootfs" --numeric-owner -cf "$tarball.tmp" .
    as_root rm -rf "$rootfs"; rootfs=""
    mv "$tarball.tmp" "$tarball"
    log "$kind base rootfs made in $((SECONDS - t0)) s ($tarball)"
  fi
  log "importing $name"
  if [[ $kind == python ]]; then import_base "$name" "$key" "$tarball" '["python3"]'
  else import_base "$name" "$key" "$tarball" '["node"]' npm_config_nodedir=/usr/local
  fi
}

# helm_image: set HELM to an image holding the toolchain's helm at /usr/bin/helm.
helm_image() {
  [[ -x "$BIN/helm" ]] || "$ROOT/scripts/toolchain.sh" kubectl-helm
  local version name tmp
  version="$("$BIN/helm" version --template '{{.Version}}')"
  HELM="todo-chatbot/helm:$version"
  name=$HELM
  if ! present "$name"; then
    log "importing $BIN/helm as $name"
    tmp="$(mktemp -d)"
    install -D -m 0755 "$BIN/helm" "$tmp/usr/bin/helm"
    tar -C "$tmp" --numeric-owner --owner=0 --group=0 -c usr | docker import - "$name" >/dev/null
    rm -rf "$tmp"
  fi
}

# --- build, smoke test, record -------------------------------------------------------------------

# build NAME CONTEXT DOCKERFILE BUILD-ARG...: prints the image ID.
build() {
  local name=$1 context=$2 dockerfile=$3 arg args=(); shift 3
  for arg in "$@"; do args+=(--build-arg "$arg"); done
  local logfile="$OUT/build-$name.log" iid
  iid="$(mktemp)"
  if ! docker build --network host --force-rm --iidfile "$iid" -f "$dockerfile" "${args[@]}" \
       "$context" >"$logfile" 2>&1; then
    rm -f "$iid"
    # The classic builder prints "Step N/M : ..." before each step: show the failing one.
    die "building the $name image failed (full log: $logfile):
$(awk '/^Step [0-9]+\/[0-9]+ :/ {buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$logfile" | tail -n 40)"
  fi
  cat "$iid"; rm -f "$iid"
}

# smoke NAME IMAGE PORT PATH PROBE WRITABLE-DIR [docker run options...] -- [command...]
smoke() {
  local name=$1 image=$2 port=$3 path=$4 probe=$5 dir=$6 opts=(); shift 6
  while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift || true
  local c="todo-smoke-$name-$$" url="http://127.0.0.1:$port$path" user uid ok="" t0 code
  user="$(docker image inspect -f '{{.Config.User}}' "$image")"
  [[ "${user%%:*}" == "$UID_EXPECTED" ]] || die "$name: the image's user is '$user', expected $UID_EXPECTED"
  smoke_containers+=("$c")
  docker run -d --name "$c" --network none --read-only --tmpfs /tmp -v "$dir" "${opts[@]}" "$image" "$@" >/dev/null
  local check
  if [[ $probe == node ]]; then
    check=(node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url")
  else
    check=(python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url")
  fi
  for _ in $(seq 1 120); do
    [[ "$(docker inspect -f '{{.State.Running}}' "$c")" == true ]] || break
    if docker exec "$c" "${check[@]}" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  [[ -n $ok ]] || die "$name: $url did not answer within 60 s in a read-only container. Its log:
$(docker logs --tail 30 "$c" 2>&1)"
  uid="$(docker exec "$c" id -u)"
  [[ $uid == "$UID_EXPECTED" ]] || die "$name: runs as uid $uid, expected $UID_EXPECTED"
  t0=$(date +%s%N)
  docker stop -t 10 "$c" >/dev/null
  code="$(docker inspect -f '{{.State.ExitCode}}' "$c")"
  [[ $code == 0 ]] || die "$name: exited $code on SIGTERM (expected 0 within 10 s). Its log:
$(docker logs --tail 30 "$c" 2>&1)"
  log "$name: uid $uid, read-only, $path answers, exit 0 $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGTERM"
  docker rm -v "$c" >/dev/null
}

smoke_backend() {
  smoke backend "$1" 8000 /health python /data
  smoke task-mcp "$1" 8001 /health python /data \
    -- python -m app.task_mcp --transport http --host 0.0.0.0 --port 8001
}
smoke_frontend() {
  smoke frontend "$1" 3000 /api/health node /app/data -v /app/.next/cache \
    -e "BETTER_AUTH_SECRET=$(head -c 32 /dev/urandom | base64)"
}
smoke_ops-mcp() {
  smoke ops-mcp "$1" 8002 /health python /var/lib/ops-mcp -e "OPS_MCP_HTTP_TOKEN=$(head -c 24 /dev/urandom | base64)"
}

refs=()
image() {  # NAME CONTEXT DOCKERFILE BUILD-ARG...
  local name=$1 id ref t0=$SECONDS
  id="$(build "$@")"
  ref="todo-chatbot/$name:${id:7:12}"  # sha256:<hex>: the first 12 hex digits, as `docker images` shows
  if present "$ref"; then
    log "$name: up to date ($ref)"
  else
    log "$name: built in $((SECONDS - t0)) s; smoke test"
    "smoke_$name" "$id"
    docker tag "$id" "$ref"
    log "$name: $ref ($(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1 / 1e6}'))"
  fi
  refs+=("$name=$ref")
}

wanted=("$@")
((${#wanted[@]})) || wanted=(backend frontend ops-mcp)
for name in "${wanted[@]}"; do
  [[ $name =~ ^(backend|frontend|ops-mcp)$ ]] || die "unknown image '$name' (expected backend, frontend or ops-mcp)"
done
for name in "${wanted[@]}"; do
  case "$name" in
    backend) base python "$PYTHON_PUBLIC" "todo-chatbot/base-python:$SUITE"
      image backend . backend-app/Dockerfile "PYTHON_IMAGE=$BASE" ;;
    frontend) base node "$NODE_PUBLIC" "todo-chatbot/base-node:20-$SUITE"
      image frontend frontend frontend/Dockerfile "NODE_IMAGE=$BASE" ;;
    ops-mcp) base python "$PYTHON_PUBLIC" "todo-chatbot/base-python:$SUITE"; helm_image
      image ops-mcp . ops_mcp/Dockerfile "PYTHON_IMAGE=$BASE" "HELM_IMAGE=$HELM" ;;
  esac
done

# Merge into images.json (other images keep their refs), written atomically.
"$PYTHON" - "$JSON" "${refs[@]}" <<'PY'
import json, os, sys
path, pairs = sys.argv[1], sys.argv[2:]
try:
    refs = json.load(open(path))
except (OSError, ValueError):
    refs = {}
refs.update(pair.split("=", 1) for pair in pairs)
order = ["backend", "frontend", "ops-mcp"]
refs = {k: refs[k] for k in order if k in refs}
with open(path + ".tmp", "w") as f:
    json.dump(refs, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
PY
log "images recorded in $JSON"
