#!/bin/sh
# Entrypoint of the sikader service images (deploy/Dockerfile).
#
#   (no arguments) | serve [ARGS]   migrate the database, then exec the service on 0.0.0.0
#   migrate | keys | dlq | outbox   run that CLI command of the service (sikader-<name> ...)
#   new-session-key                 (console) print a new SIKADER_CONSOLE_SESSION_KEY
#   anything else                   exec'd as is (e.g. `sh`, `python`)
#
# The service comes from SIKADER_SERVICE (set in the image). The port is the service's own
# setting (SIKADER_<NAME>_HTTP_PORT, default 8001-8004, the console 8000); the listen address is 0.0.0.0
# unless SIKADER_<NAME>_HTTP_HOST is set. `exec` makes the server PID 1, so SIGTERM from
# `docker stop` / `podman stop` reaches uvicorn directly and it shuts down gracefully.
set -eu

: "${SIKADER_SERVICE:?SIKADER_SERVICE is not set (registry|certification|incentives|notifications|console)}"
cli() { python -m "${SIKADER_SERVICE}.entrypoints.cli" "$@"; }

if [ "$#" -eq 0 ]; then
  set -- serve
fi

case "$1" in
  serve)
    shift
    mkdir -p "${SIKADER_VAR_DIR:-/app/var}"
    cli migrate
    upper=$(printf '%s' "$SIKADER_SERVICE" | tr '[:lower:]' '[:upper:]')
    if eval "[ -n \"\${SIKADER_${upper}_HTTP_HOST:-}\" ]"; then
      exec python -m "${SIKADER_SERVICE}.entrypoints.cli" serve "$@"
    fi
    exec python -m "${SIKADER_SERVICE}.entrypoints.cli" serve --host 0.0.0.0 "$@"
    ;;
  migrate|keys|dlq|outbox|new-session-key)
    exec python -m "${SIKADER_SERVICE}.entrypoints.cli" "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
