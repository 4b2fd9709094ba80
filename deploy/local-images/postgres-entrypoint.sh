#!/bin/bash
# Entrypoint of localhost/sikader-postgres (deploy/local-images/postgres.Dockerfile): a
# stand-in for the official postgres image on machines that cannot pull it. It honours the
# parts of the official image's interface that sikader uses, so docker-compose.yml and
# deploy/postgres/initdb.d/ work unchanged with either image:
#
#   POSTGRES_PASSWORD      superuser password (required unless POSTGRES_HOST_AUTH_METHOD=trust)
#   POSTGRES_USER          superuser name (default postgres)
#   POSTGRES_DB            database created at first start (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS   extra initdb arguments
#   POSTGRES_HOST_AUTH_METHOD  pg_hba method for TCP connections (default scram-sha-256)
#   PGDATA                 data directory (default /var/lib/postgresql/data)
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz   run once, on the first start of an
#                          empty PGDATA, against a server that listens only on its Unix
#                          socket (so health checks over TCP fail until it is done)
#   command `postgres [-c name=value ...]`  the server, as PID 1 (SIGINT: fast shutdown)
#
# Like the official image: started as root, it fixes the ownership of PGDATA and re-executes
# itself as the postgres user; connections over the Unix socket inside the container are
# trusted, TCP connections need the password.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

log() { echo "postgres-entrypoint: $*" >&2; }

if [[ "${1:-}" == -* ]]; then
  set -- postgres "$@"
fi

if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || true
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  POSTGRES_USER="${POSTGRES_USER:-postgres}"
  POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  if [[ -z "${POSTGRES_PASSWORD:-}" && "$auth" != trust ]]; then
    log "database is uninitialized and POSTGRES_PASSWORD is not set"
    log "set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, never in production)"
    exit 1
  fi
  export POSTGRES_USER POSTGRES_DB

  log "initializing $PGDATA (first start)"
  pwargs=()
  if [[ -n "${POSTGRES_PASSWORD:-}" ]]; then
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086
  initdb --username="$POSTGRES_USER" "${pwargs[@]}" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-} -D "$PGDATA" >/dev/null
  rm -f "${pwfile:-}"
  printf '\n# added by the entrypoint: password over TCP from anywhere\nhost all all all %s\n' "$auth" \
    >>"$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

  # temporary server: Unix socket only
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w -t 60 start >/dev/null
  export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"
  psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --no-password)
  if [[ "$POSTGRES_DB" != postgres ]]; then
    "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
  fi
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [[ -x "$f" ]]; then
          log "running $f"
          "$f"
        else
          log "sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz) log "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
      *) log "ignoring $f" ;;
    esac
  done
  shopt -u nullglob
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  unset PGPASSWORD
  log "initialization done; starting the server"
fi

exec "$@"
