#!/usr/bin/env bash
# Build the project's images and record them in $CACHE/images/images.json ($IMAGES_JSON if set):
#   {"backend": "todo-chatbot/backend:<tag>", "frontend": "todo-chatbot/frontend:<tag>", "ops-mcp": "todo-chatbot/ops-mcp:<tag>"}
#
#   scripts/images.sh [backend|frontend|ops-mcp ...]     (default: all three; prints their sizes at the end)
#   scripts/images.sh --bases                            (only the bases, printed as docker-compose.yml's variables)
#
# - Engine: whatever scripts/engine.sh prints (it installs and starts one when none answers).
# - Bases: the Dockerfiles' public defaults (python:3.11-slim-bookworm, node:20-bookworm-slim) when
#   the engine has them or can pull them; otherwise equivalent local bases made once with debootstrap
#   from Debian packages, carrying this machine's CA bundle, and passed as build arguments.
#   ops-mcp gets the toolchain's pinned helm ($BIN/helm) as a one-file image, and its final stage a
#   distroless-like base (python3 and its libraries only, from Debian's packages: see python_runtime_rootfs).
#   docker-compose.yml's PostgreSQL: postgres:16.4-alpine, or a stand-in from Debian's package (postgres_image).
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
POSTGRES_PUBLIC=postgres:16.4-alpine
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

# slim_rootfs FULL PACKAGE...: a distroless-like rootfs in $rootfs: only the files of PACKAGE... and the packages
# they depend on, copied out of the debootstrapped FULL by their packages' file lists (no apt, dpkg, perl,
# passwd tools, locales or gconv modules); of coreutils only what the images and their probes run (sh is dash:
# id, cat, touch...). Python's standard library becomes byte-code in /usr/lib/python311.zip. The app user (10001)
# is in /etc/passwd already: the Dockerfiles add it only where it is missing.
slim_rootfs() {
  local full=$1; shift
  rootfs="$full.slim"
  as_root rm -rf "$rootfs"
  as_root "$PYTHON" - "$full" "$rootfs" "$@" <<'PY'
import os, re, shutil, subprocess, sys
src, dst, *roots = sys.argv[1:]
python = "python3.11" in roots
status = open(f"{src}/var/lib/dpkg/status").read().split("\n\n")
deps = {}
for stanza in status:
    fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
    if "Package" in fields and "installed" in fields.get("Status", ""):
        names = re.findall(r"(?:^|[,|]\s*)([a-z0-9][a-z0-9+.-]*)", fields.get("Depends", "") + "," + fields.get("Pre-Depends", ""))
        deps[fields["Package"]] = [n for n in names if n]
provides = {}
for stanza in status:
    fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
    for n in re.findall(r"([a-z0-9][a-z0-9+.-]*)", fields.get("Provides", "")):
        provides.setdefault(n, fields.get("Package"))
# Not needed at run time though depended on (maintainer scripts, docs): left out with their own closures.
skip = {"debconf", "perl-base", "dpkg", "readline-common", "install-info", "debianutils"}
todo, closure = list(roots), set()
while todo:
    name = todo.pop()
    name = name if name in deps else provides.get(name, name)
    if name in closure or name in skip or name not in deps:
        continue
    closure.add(name)
    todo += deps[name]
print("packages:", " ".join(sorted(closure)), file=sys.stderr)
paths = set()
for name in closure:
    for suffix in (f"{name}.list", f"{name}:amd64.list"):
        listing = f"{src}/var/lib/dpkg/info/{suffix}"
        if os.path.exists(listing):
            paths.update(line.strip() for line in open(listing) if line.strip() not in ("", "/."))
# Byte-code Debian's postinst compiled (not in the lists), the CA bundles, the accounts, the resolver's files.
for root, dirs, files in os.walk(f"{src}/usr/lib/python3.11") if python else ():
    if os.path.basename(root) == "__pycache__":
        paths.update("/" + os.path.relpath(os.path.join(root, f), src) for f in files)
paths.update(["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/machine-ca-bundle.pem", "/etc/passwd", "/etc/group",
              "/etc/nsswitch.conf", "/etc/host.conf", "/etc/hosts", "/etc/resolv.conf"])
unwanted = re.compile(r"^/usr/(share/(doc|man|info|locale|lintian|bug|bash-completion)|lib/x86_64-linux-gnu/gconv|lib/python3\.11/(lib2to3|pydoc_data|ensurepip|idlelib|tkinter|turtledemo|test))(/|$)")
for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # usrmerge's links
    if os.path.islink(f"{src}/{top}"):
        os.makedirs(dst, exist_ok=True)
        os.symlink(os.readlink(f"{src}/{top}"), f"{dst}/{top}")
copied = 0
for path in sorted(paths):
    if unwanted.match(path):
        continue
    parent = os.path.realpath(f"{src}{os.path.dirname(path)}")  # through usrmerge's links, inside src
    if not parent.startswith(src):
        continue
    here = os.path.join(parent, os.path.basename(path))
    if os.path.isdir(here) and not os.path.islink(here):
        continue  # directories come with their files
    if not os.path.lexists(here):
        continue  # removed from the full rootfs (docs, man pages)
    target = dst + here[len(src):]
    if os.path.lexists(target):
        continue  # a usrmerge link made above
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copy2(here, target, follow_symlinks=False)
    copied += 1
for d in ("tmp", "var/tmp", "proc", "sys", "dev", "etc", "root", "run", "var/lib", "var/cache", "usr/local/bin"):
    os.makedirs(f"{dst}/{d}", exist_ok=True)
os.chmod(f"{dst}/tmp", 0o1777); os.chmod(f"{dst}/var/tmp", 0o1777)
with open(f"{dst}/etc/passwd", "a") as f:
    f.write("app:x:10001:10001::/nonexistent:/usr/sbin/nologin\n")
with open(f"{dst}/etc/group", "a") as f:
    f.write("app:x:10001:\n")
# The standard library as byte-code in /usr/lib/python311.zip (first on sys.path; Debian's own .pyc
# files, without sources): a third of its size. lib-dynload's extensions and os.py (how Python finds its
# prefix) stay on disk.
import zipfile
lib = f"{dst}/usr/lib/python3.11"
with (zipfile.ZipFile(f"{dst}/usr/lib/python311.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) if python else open(os.devnull, "w")) as zf:
    for root, dirs, files in os.walk(lib) if python else ():
        rel = os.path.relpath(root, lib)
        if rel.split(os.sep)[0] in ("lib-dynload", "site-packages", "dist-packages"):
            continue
        if os.path.basename(root) == "__pycache__":
            for f in files:
                if f.endswith(".cpython-311.pyc"):
                    name = os.path.join(os.path.dirname(rel), f.split(".")[0] + ".pyc")
                    zf.write(os.path.join(root, f), os.path.normpath(name))
            shutil.rmtree(root)
            dirs[:] = []
            continue
        if rel != ".":
            zf.writestr(rel + "/", b"")
        for f in files:
            if f.endswith(".py") and not (rel == "." and f == "os.py"):
                os.unlink(os.path.join(root, f))
# Only what the images and their probes use of coreutils (sh is dash).
keep = {"cat", "chmod", "chown", "cp", "date", "echo", "env", "false", "id", "ln", "ls", "mkdir", "mv", "pwd",
        "readlink", "rm", "rmdir", "sleep", "test", "[", "touch", "true", "uname", "dash", "sh", "mawk", "awk",
        "python3", "python3.11", "python"}
for directory in ("usr/bin", "usr/sbin"):
    for f in os.listdir(f"{dst}/{directory}"):
        if f not in keep and not f.startswith("python"):
            os.unlink(f"{dst}/{directory}/{f}")
subprocess.run(["ldconfig", "-r", dst], check=True)
print(f"{copied} files", file=sys.stderr)
PY
  as_root rm -rf "$full"
}

# The final stages' bases (backend, ops-mcp: python3.11; frontend: node, this machine's Node 20 as in node_rootfs).
python_runtime_rootfs() {
  make_rootfs python_runtime python3,netbase
  slim_rootfs "$rootfs" python3.11 python3 dash coreutils base-files netbase
  [[ -e "$rootfs/usr/bin/python" ]] || as_root ln -s python3 "$rootfs/usr/bin/python"
}
node_runtime_rootfs() {
  local exe; exe="$(node -p process.execPath)"
  make_rootfs node_runtime netbase
  slim_rootfs "$rootfs" libstdc++6 libgcc-s1 libc6 dash coreutils base-files netbase
  as_root install -D -m 0755 "$exe" "$rootfs/usr/local/bin/node"
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
  [[ $kind == *_runtime ]] && key+="-r2"
  [[ $kind == node* ]] && key+="-node$(node --version)"
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
  if [[ $kind == python* ]]; then import_base "$name" "$key" "$tarball" '["python3"]'
  elif [[ $kind == node_runtime ]]; then import_base "$name" "$key" "$tarball" '["node"]'
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

# postgres_image PYTHON-BASE: set POSTGRES to the image for docker-compose.yml's postgres service: the public
# one when the engine has it or can pull it, else tests/cluster/postgres's stand-in (Debian's PostgreSQL 15,
# the same interface: POSTGRES_DB/USER/PASSWORD, PGDATA under /var/lib/postgresql/data, pg_isready, uid 70).
postgres_image() {
  local name=todo-chatbot/postgres:debian-standin key built
  POSTGRES=$POSTGRES_PUBLIC
  present "$POSTGRES_PUBLIC" && return
  key="$(docker image inspect -f '{{.Id}}' "$1")-$(cat tests/cluster/postgres/* | sha256sum | cut -c1-12)"
  POSTGRES=$name
  built="$(label "$name" todo-chatbot.base-recipe || true)"
  [[ $built == "$key" ]] && return
  if [[ -z $built ]]; then
    log "trying docker pull $POSTGRES_PUBLIC (once; a local stand-in is built when it fails)"
    if timeout 60 docker pull -q "$POSTGRES_PUBLIC" >/dev/null 2>&1; then POSTGRES=$POSTGRES_PUBLIC; return; fi
  fi
  log "building $name (Debian's PostgreSQL, tests/cluster/postgres) on $1"
  docker build --network host --force-rm --label "todo-chatbot.base-recipe=$key" --build-arg "BASE_IMAGE=$1" \
    -t "$name" tests/cluster/postgres >"$OUT/build-postgres.log" 2>&1 \
    || die "building $name failed (full log: $OUT/build-postgres.log):
$(tail -n 30 "$OUT/build-postgres.log")"
}

# --bases: make the base images (no app image) and print them as docker-compose.yml's variables, e.g.
#   scripts/images.sh --bases >> .env && docker compose up --build
if [[ ${1:-} == --bases ]]; then
  base python "$PYTHON_PUBLIC" "todo-chatbot/base-python:$SUITE"; python=$BASE
  base python_runtime "$PYTHON_PUBLIC" "todo-chatbot/base-python-runtime:$SUITE"; runtime=$BASE
  base node "$NODE_PUBLIC" "todo-chatbot/base-node:20-$SUITE"; node=$BASE
  base node_runtime "$NODE_PUBLIC" "todo-chatbot/base-node-runtime:20-$SUITE"; node_runtime=$BASE
  helm_image
  postgres_image "$python"
  # BUILD_NETWORK=host: RUN steps reach the package registries even on an engine without a default bridge.
  printf '%s\n' "PYTHON_IMAGE=$python" "PYTHON_RUNTIME_IMAGE=$runtime" "NODE_IMAGE=$node" \
    "NODE_RUNTIME_IMAGE=$node_runtime" "HELM_IMAGE=$HELM" \
    "POSTGRES_IMAGE=$POSTGRES" "BUILD_NETWORK=host"
  exit 0
fi

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
    backend) base python "$PYTHON_PUBLIC" "todo-chatbot/base-python:$SUITE"; python=$BASE
      base python_runtime "$PYTHON_PUBLIC" "todo-chatbot/base-python-runtime:$SUITE"
      image backend . backend-app/Dockerfile "PYTHON_IMAGE=$python" "PYTHON_RUNTIME_IMAGE=$BASE" ;;
    frontend) base node "$NODE_PUBLIC" "todo-chatbot/base-node:20-$SUITE"; node=$BASE
      base node_runtime "$NODE_PUBLIC" "todo-chatbot/base-node-runtime:20-$SUITE"
      image frontend frontend frontend/Dockerfile "NODE_IMAGE=$node" "NODE_RUNTIME_IMAGE=$BASE" ;;
    ops-mcp) base python "$PYTHON_PUBLIC" "todo-chatbot/base-python:$SUITE"; python=$BASE
      base python_runtime "$PYTHON_PUBLIC" "todo-chatbot/base-python-runtime:$SUITE"; helm_image
      image ops-mcp . ops_mcp/Dockerfile "PYTHON_IMAGE=$python" "PYTHON_RUNTIME_IMAGE=$BASE" "HELM_IMAGE=$HELM" ;;
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
# The three images' sizes (as `docker image ls` counts them: uncompressed, all layers).
"$PYTHON" -c 'import json, sys; [print(k, v) for k, v in json.load(open(sys.argv[1])).items()]' "$JSON" \
  | while read -r name ref; do
      printf '%-9s %-36s %s\n' "$name" "$ref" \
        "$(docker image inspect -f '{{.Size}}' "$ref" 2>/dev/null | awk '{printf "%.0f MB", $1 / 1e6}')"
    done
