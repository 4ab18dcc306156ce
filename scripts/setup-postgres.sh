#!/usr/bin/env bash
# Start (or reuse) a PostgreSQL cluster owned by the tests, on loopback only, and print its URL.
#
#   scripts/setup-postgres.sh            # prints: export DATABASE_URL='postgresql://...'
#   eval "$(scripts/setup-postgres.sh)"  # exports it into the current shell
#
# Idempotent: installs the Debian package only when missing (apt-get update only when needed),
# creates the cluster once, starts it when it is not running. Settings (environment):
#   TODO_PG_PORT (default 55432), TODO_PG_DATA (data directory).
# State (password, URL) lives in ~/.cache/todo-chatbot/postgres. As root the data directory is
# /var/lib/postgresql/todo-chatbot-test instead, because the server must run as the unprivileged
# `postgres` user, which cannot enter /root; its password then sits beside it (root-only), so every
# checkout and cache on the machine uses the one cluster.
set -euo pipefail

PORT="${TODO_PG_PORT:-55432}"
STATE="${TODO_CHATBOT_CACHE:-$HOME/.cache/todo-chatbot}/postgres"
DB_NAME=todo
DB_USER=todo

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

find_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BINDIR="$(find_bindir)"
if [[ -z "$BINDIR" || ! -x "$BINDIR/initdb" ]]; then
  [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed; run as root or: sudo apt-get install -y postgresql"
  log "installing the postgresql Debian package"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends postgresql >/dev/null
  fi
  BINDIR="$(find_bindir)"
  [[ -x "$BINDIR/initdb" ]] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
fi

mkdir -p "$STATE"
chmod 700 "$STATE"
if [[ $(id -u) -eq 0 ]]; then
  DATA="${TODO_PG_DATA:-/var/lib/postgresql/todo-chatbot-test}"
  PWFILE="$DATA.password"
  as_owner() { runuser -u postgres -- "$@"; }
  OWNER=postgres
else
  DATA="${TODO_PG_DATA:-$STATE/data}"
  PWFILE="$STATE/password"
  as_owner() { "$@"; }
  OWNER="$(id -un)"
fi

if [[ ! -s "$PWFILE" ]]; then
  if [[ -s "$DATA/PG_VERSION" ]]; then
    # A test cluster whose password is lost (made by an older setup): its data is disposable.
    log "recreating the test cluster in $DATA (its password is not known here)"
    as_owner "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$DATA"
  fi
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PWFILE")
fi
PASSWORD="$(cat "$PWFILE")"

if [[ ! -s "$DATA/PG_VERSION" ]]; then
  log "creating a test cluster in $DATA (port $PORT)"
  mkdir -p "$DATA"
  chown "$OWNER" "$DATA"
  chmod 700 "$DATA"
  pwfile="$(mktemp)"
  printf '%s\n' "$PASSWORD" > "$pwfile"
  chown "$OWNER" "$pwfile"
  as_owner "$BINDIR/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$pwfile" \
    --auth-host=scram-sha-256 --auth-local=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  # Loopback TCP only; the socket sits in the data directory, not in /var/run/postgresql.
  cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATA'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

if ! as_owner "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start >/dev/null \
    || die "PostgreSQL did not start; see $DATA/server.log"
fi

export PGPASSWORD="$PASSWORD"
if ! "$BINDIR/psql" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres -tAc \
     "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  "$BINDIR/createdb" -h 127.0.0.1 -p "$PORT" -U "$DB_USER" "$DB_NAME"
fi

URL="postgresql://$DB_USER:$PASSWORD@127.0.0.1:$PORT/$DB_NAME"
printf '%s\n' "$URL" > "$STATE/url"
chmod 600 "$STATE/url"
echo "export DATABASE_URL='$URL'"
