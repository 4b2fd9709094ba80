#!/bin/bash
# PostgreSQL init script: one role and one database per sikader service (and the console's).
#
# Runs once, on the first start of an empty data volume (the official postgres image's
# /docker-entrypoint-initdb.d convention; the local stand-in image built by
# deploy/local-images/build.sh --with-postgres honours it the same way). docker-compose.yml
# mounts this directory there and passes the passwords in the environment:
#
#   SIKADER_REGISTRY_DB_PASSWORD, SIKADER_CERTIFICATION_DB_PASSWORD,
#   SIKADER_INCENTIVES_DB_PASSWORD, SIKADER_NOTIFICATIONS_DB_PASSWORD, SIKADER_CONSOLE_DB_PASSWORD
#
# Each service gets role sikader_<service> (LOGIN, no other privilege) owning database
# sikader_<service>; PUBLIC loses CONNECT on it, so a service cannot open another's database.
# Safe to run again by hand (existing roles get their password reset, nothing is dropped), e.g.
# to add the console's database to a volume created before the console existed:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/10-sikader-databases.sh
set -euo pipefail

SERVICES=(registry certification incentives notifications console)

for service in "${SERVICES[@]}"; do
  var="SIKADER_${service^^}_DB_PASSWORD"
  password="${!var:-}"
  if [[ -z "$password" ]]; then
    echo "10-sikader-databases.sh: $var is not set (see .env.example)" >&2
    exit 1
  fi
  name="sikader_${service}"
  # psql variables (:'name', :'password') are quoted by psql itself; format() quotes again
  # for the generated statements (%I identifiers, %L literals). \gexec runs each result row.
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    --set name="$name" --set password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'name', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0', :'name', :'name', 'UTF8')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', :'name', :'name') \gexec
SQL
  echo "10-sikader-databases.sh: database $name ready (role $name)"
done
