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
# the console answers on the URL make run printed first, and the admin key signs in there
CONSOLE_URL="$(grep -oE 'console +http://[0-9.:]+' "$LOG" | awk '{print $2}')"
.venv/bin/python - "$CONSOLE_URL" "$VAR/admin.key" <<'PY'
import re, sys
from pathlib import Path

import httpx

base, key = sys.argv[1], Path(sys.argv[2]).read_text().strip()
with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
    assert c.get("/health/ready").status_code == 200
    page = c.get("/masuk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and token, page.status_code
    signed = c.post("/masuk", data={"api_key": key, "csrf_token": token.group(1)})
    assert signed.status_code == 303 and signed.headers["location"].endswith("/peta"), signed.status_code
    peta = c.get("/peta")
    assert peta.status_code == 200 and 'id="who"' in peta.text, peta.status_code
print(f"console {base}: signed in with the admin key, /peta answered")
PY
.venv/bin/python scripts/walkthrough.py
kill -INT "$RUN"
wait "$RUN"
trap - EXIT
echo "make run stopped cleanly; var dir $VAR"
