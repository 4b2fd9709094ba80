#!/usr/bin/env bash
# PostgreSQL for the tests and benchmarks, from nothing: install it from Debian's packages,
# start it on 127.0.0.1:5432 (no systemd here: pg_ctlcluster), trust local TCP connections
# (the tests connect as postgres@127.0.0.1 without a password) and create the `test` database.
# A server that already answers on 127.0.0.1:5432 is reused as it is. Idempotent; needs root
# for the first install. Used by `.ci/run` and `make postgres` (and the targets that need it).
set -euo pipefail

HOST=127.0.0.1
PORT=5432
DB=test
log() { echo "postgres-setup: $*"; }

answers() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

psql_admin() { psql -h "$HOST" -p "$PORT" -U postgres -d postgres -XqtA "$@"; }

create_test_db() {
  if [[ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE $DB"
  fi
}

if answers; then
  command -v psql >/dev/null || { log "a server answers on $HOST:$PORT but psql is missing"; exit 1; }
  log "reusing the server that answers on $HOST:$PORT"
  create_test_db
  exit 0
fi

# 1. packages: postgresql-15 where the distribution offers it, else its own version
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
  [[ -n "$(candidate postgresql)" && "$(candidate postgresql)" != "(none)" ]] || apt-get update -q >/tmp/postgres-setup-apt.log 2>&1
  pkg=postgresql
  c15="$(candidate postgresql-15)"
  [[ -n "$c15" && "$c15" != "(none)" ]] && pkg=postgresql-15
  log "installing $pkg (and its client)"
  apt-get install -y -q "$pkg" postgresql-client >>/tmp/postgres-setup-apt.log 2>&1 \
    || { tail -20 /tmp/postgres-setup-apt.log >&2; exit 1; }
fi

# 2. a cluster on port 5432: the one the package created, else a new one
version="$(ls /usr/lib/postgresql | sort -n | tail -1)"
cluster="$(pg_lsclusters -h 2>/dev/null | awk -v p="$PORT" '$3 == p {print $1 "/" $2; exit}')"
if [[ -z "$cluster" ]]; then
  log "creating cluster $version/main on port $PORT"
  pg_createcluster "$version" main --port "$PORT" >/dev/null
  cluster="$version/main"
fi
conf_dir="/etc/postgresql/$cluster"

# 3. trust for loopback TCP (tests and benchmarks only: this server listens on loopback only)
hba="$conf_dir/pg_hba.conf"
if ! grep -q '^# sikader: trust loopback' "$hba"; then
  log "trusting loopback connections in $hba"
  tmp="$(mktemp)"
  {
    echo "# sikader: trust loopback (tests connect as postgres@127.0.0.1 without a password)"
    echo "host    all             all             127.0.0.1/32            trust"
    echo "host    all             all             ::1/128                 trust"
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
fi
mkdir -p "$conf_dir/conf.d"
# Each test gets databases of its own and several services with pools: more than 100 connections.
cat >"$conf_dir/conf.d/sikader.conf" <<'CONF'
listen_addresses = '127.0.0.1'
max_connections = 300
CONF

# 4. start (pg_ctlcluster, no systemd) and wait until it answers
log "starting $cluster"
pg_ctlcluster "${cluster%/*}" "${cluster#*/}" start || pg_ctlcluster "${cluster%/*}" "${cluster#*/}" restart
for _ in $(seq 1 100); do
  answers && break
  sleep 0.1
done
answers || { log "PostgreSQL did not answer on $HOST:$PORT" >&2; tail -20 "/var/log/postgresql/postgresql-${cluster%/*}-${cluster#*/}.log" >&2; exit 1; }
create_test_db
log "ready: postgresql://postgres@$HOST:$PORT/$DB"
