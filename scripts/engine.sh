#!/usr/bin/env bash
# Make a container engine reachable and print the DOCKER_HOST to use (the only line on stdout).
#
#   export DOCKER_HOST="$(scripts/engine.sh)"
#
# Order: $DOCKER_HOST if it answers; the default socket /var/run/docker.sock; our own dockerd at
# $CACHE/docker/docker.sock. Otherwise Debian's docker.io is installed (when dockerd is missing)
# and our own dockerd is started, detached, with everything under $CACHE/docker and no bridge,
# iptables or ip_forward changes: a kubelet node shares this machine, and Docker's networking
# would interfere with it and could route traffic off the machine.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DIR="$CACHE/docker"
OWN="unix://$DIR/docker.sock"

answers() { DOCKER_HOST="$1" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
found() { printf '%s\n' "$1"; exit 0; }

if command -v docker >/dev/null; then
  if [[ -n "${DOCKER_HOST:-}" ]]; then
    answers "$DOCKER_HOST" && found "$DOCKER_HOST"
    log "DOCKER_HOST=$DOCKER_HOST does not answer; looking for another engine"
  fi
  answers unix:///var/run/docker.sock && found unix:///var/run/docker.sock
  answers "$OWN" && found "$OWN"
fi

install_docker() {
  log "no dockerd on this machine: installing Debian's docker.io"
  # Keep the package from starting a default dockerd (bridge, iptables) when the machine has no
  # policy yet; exit code 101 is Debian's "action forbidden" for invoke-rc.d.
  local policy=/usr/sbin/policy-rc.d added=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
    added=1
  fi
  local ok=1
  apt_install docker.io || ok=""
  if [[ -n $added ]]; then as_root rm -f "$policy"; fi
  [[ -n $ok ]] || die "apt-get install docker.io failed (see above)"
  command -v dockerd >/dev/null || die "docker.io is installed but dockerd is not on PATH"
}

if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then install_docker; fi

mkdir -p "$DIR"
pidfile="$DIR/docker.pid" logfile="$DIR/dockerd.log"
if [[ -s $pidfile && ! -d /proc/$(cat "$pidfile") ]]; then
  rm -f "$pidfile"  # left by a dockerd that died; dockerd refuses to start while it exists
fi
if [[ ! -s $pidfile ]]; then
  log "starting dockerd on $OWN (data in $DIR, log $logfile)"
  flags=(--host "$OWN" --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$pidfile"
         --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false)
  # Not root: the socket belongs to our group so that this user can reach it.
  [[ $EUID -eq 0 ]] || flags+=(--group "$(id -gn)")
  as_root setsid dockerd "${flags[@]}" >>"$logfile" 2>&1 </dev/null &
  started=$!
  disown
fi

for _ in $(seq 1 60); do
  answers "$OWN" && found "$OWN"
  if [[ -n "${started:-}" && ! -d /proc/$started ]]; then
    die "dockerd exited at start. Last lines of $logfile:
$(tail -n 20 "$logfile" 2>/dev/null)"
  fi
  sleep 0.5
done
die "dockerd did not answer on $OWN within 30 s. Last lines of $logfile:
$(tail -n 20 "$logfile" 2>/dev/null)"
