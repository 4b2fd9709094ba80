#!/usr/bin/env bash
# What a newcomer runs first, as CI runs it: `make run` on a fresh var/ (the demo data
# calculates the current month), then `make walkthrough` against it in another process, then
# Ctrl-C. Fails if the walkthrough fails or make run does not stop cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
VAR="$(mktemp -d /tmp/sikader-walkthrough.XXXXXX)"
export SIKADER_VAR_DIR="$VAR"
LOG="$VAR/make-run.log"
.venv/bin/python scripts/run_local.py >"$LOG" 2>&1 &
RUN=$!
cleanup() {
  if kill -0 "$RUN" 2>/dev/null; then kill -INT "$RUN"; wait "$RUN" || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q "Ctrl-C stops everything" "$LOG" && break
  kill -0 "$RUN" 2>/dev/null || { echo "make run exited:"; tail -40 "$LOG"; exit 1; }
  sleep 1
done
grep -q "Ctrl-C stops everything" "$LOG" || { echo "make run not ready in 240 s:"; tail -40 "$LOG"; exit 1; }
grep "\[make run\]" "$LOG"
.venv/bin/python scripts/walkthrough.py
kill -INT "$RUN"
wait "$RUN"
trap - EXIT
echo "make run stopped cleanly; var dir $VAR"
