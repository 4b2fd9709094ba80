#!/usr/bin/env bash
# Build the service images from deploy/Dockerfile (context: the repository root).
#
#   deploy/build-images.sh                      # all five: localhost/sikader-<name>:latest
#   deploy/build-images.sh registry incentives  # only these
#
# Env:
#   DOCKER       use docker instead of podman (DOCKER=1 -> `docker`, or a path to the CLI)
#   PODMAN       podman CLI (default: podman)
#   BASE_IMAGE   base image; default python:3.11-slim when present or pullable, else
#                localhost/debian-python:bookworm (deploy/local-images/build.sh --with-python)
#   CA_BUNDLE    podman only: host CA bundle bind-mounted over the image's bundle during RUN
#                steps so pip can reach the package index (default
#                /etc/ssl/certs/ca-certificates.crt; CA_BUNDLE= to mount nothing)
#   TAG          image tag (default: latest);  IMAGE_PREFIX (default: localhost/sikader-)
#   NO_CACHE=1   pass --no-cache to every build (note: with podman 4.3 layers built with
#                --no-cache are not reused as cache by later builds)
#   BUILD_OPTS   extra arguments for `build` (word-split)
#   LOG_DIR      build logs (default: var/build-logs);  VERBOSE=1 streams the build output
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
ALL_SERVICES=(registry certification incentives notifications console)
TAG="${TAG:-latest}"
IMAGE_PREFIX="${IMAGE_PREFIX:-localhost/sikader-}"
LOG_DIR="${LOG_DIR:-$REPO/var/build-logs}"
CA_BUNDLE="${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
LOCAL_BASE="localhost/debian-python:bookworm"

if [[ -n "${DOCKER:-}" ]]; then
  case "$DOCKER" in 1|true|yes) ENGINE=docker ;; *) ENGINE="$DOCKER" ;; esac
  KIND=docker
  DEFAULT_BASE="python:3.11-slim"
else
  ENGINE="${PODMAN:-podman}"
  KIND=podman
  # fully qualified: podman's short-name resolution may need a TTY to pick a registry
  DEFAULT_BASE="docker.io/library/python:3.11-slim"
fi
command -v "$ENGINE" >/dev/null || { echo "build-images.sh: $ENGINE not found" >&2; exit 1; }

services=()
for arg in "$@"; do
  case "$arg" in
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    registry|certification|incentives|notifications|console) services+=("$arg") ;;
    *) echo "build-images.sh: unknown service: $arg (registry|certification|incentives|notifications|console)" >&2; exit 2 ;;
  esac
done
[[ ${#services[@]} -gt 0 ]] || services=("${ALL_SERVICES[@]}")

image_present() {
  if [[ "$KIND" == podman ]]; then "$ENGINE" image exists "$1" 2>/dev/null
  else "$ENGINE" image inspect "$1" >/dev/null 2>&1; fi
}

if [[ -z "${BASE_IMAGE:-}" ]]; then
  if image_present "$DEFAULT_BASE" || timeout 120 "$ENGINE" pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
    BASE_IMAGE="$DEFAULT_BASE"
  elif image_present "$LOCAL_BASE"; then
    BASE_IMAGE="$LOCAL_BASE"
    echo "build-images.sh: $DEFAULT_BASE cannot be pulled; using $LOCAL_BASE"
  else
    echo "build-images.sh: neither $DEFAULT_BASE (pull failed) nor $LOCAL_BASE is available;" >&2
    echo "  build the local one: deploy/local-images/build.sh --with-python, or set BASE_IMAGE" >&2
    exit 1
  fi
fi

build_args=(build -f "$HERE/Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE")
if [[ "$KIND" == podman ]]; then
  # docker format: the OCI format has no HEALTHCHECK (podman would drop it with a warning)
  build_args+=(--format docker)
  if [[ -n "$CA_BUNDLE" ]]; then
    [[ -r "$CA_BUNDLE" ]] || { echo "build-images.sh: CA_BUNDLE not readable: $CA_BUNDLE" >&2; exit 1; }
    build_args+=(-v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro")
  fi
fi
# shellcheck disable=SC2206
[[ -n "${BUILD_OPTS:-}" ]] && build_args+=($BUILD_OPTS)

mkdir -p "$LOG_DIR"
echo "build-images.sh: $ENGINE, BASE_IMAGE=$BASE_IMAGE, context $REPO"

declare -A took
for svc in "${services[@]}"; do
  image="${IMAGE_PREFIX}${svc}:${TAG}"
  log="$LOG_DIR/$svc.log"
  extra=()
  if [[ "${NO_CACHE:-0}" == 1 ]]; then extra+=(--no-cache); fi
  echo "build-images.sh: building $image (log: $log)"
  start=$(date +%s.%N)
  if [[ "${VERBOSE:-0}" == 1 ]]; then
    "$ENGINE" "${build_args[@]}" "${extra[@]}" --build-arg "SERVICE=$svc" -t "$image" "$REPO" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
  else
    rc=0
    "$ENGINE" "${build_args[@]}" "${extra[@]}" --build-arg "SERVICE=$svc" -t "$image" "$REPO" >"$log" 2>&1 || rc=$?
  fi
  end=$(date +%s.%N)
  if [[ "$rc" != 0 ]]; then
    tail -n 30 "$log" >&2
    echo "build-images.sh: building $image failed (exit $rc); full log: $log" >&2
    exit "$rc"
  fi
  took[$svc]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  echo "build-images.sh: $image built in ${took[$svc]} s"
done

echo
printf '%-40s %10s %10s\n' IMAGE "BUILD (s)" "SIZE (MB)"
for svc in "${services[@]}"; do
  image="${IMAGE_PREFIX}${svc}:${TAG}"
  bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$image")
  printf '%-40s %10s %10s\n' "$image" "${took[$svc]}" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')"
done
