# Local PostgreSQL image (localhost/sikader-postgres:15) for machines that cannot pull the
# official postgres image. Build context: deploy/local-images/ (see build.sh --with-postgres).
# Debian bookworm's PostgreSQL 15 from the Debian archive, on the local Debian base image;
# the entrypoint (postgres-entrypoint.sh) follows the official image's interface:
# POSTGRES_PASSWORD / POSTGRES_USER / POSTGRES_DB, /docker-entrypoint-initdb.d/*.sh on the
# first start, PGDATA=/var/lib/postgresql/data, `postgres -c ...` as the command.
ARG BASE_IMAGE=localhost/debian-python:bookworm
FROM ${BASE_IMAGE}

ARG PG_MAJOR=15
ENV PG_MAJOR=${PG_MAJOR} \
    PATH=/usr/lib/postgresql/${PG_MAJOR}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8

# postgresql-common first, told not to create a default cluster (the entrypoint runs initdb
# on the volume), then the server. No recommends: no locales, no SSL snakeoil, no perl docs.
RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    apt-get install -y --no-install-recommends postgresql-common; \
    sed -ri 's/#(create_main_cluster) .*$/\1 = false/' /etc/postgresql-common/createcluster.conf; \
    apt-get install -y --no-install-recommends "postgresql-${PG_MAJOR}"; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    mkdir -p /var/run/postgresql "$PGDATA" /docker-entrypoint-initdb.d; \
    chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql; \
    chmod 3777 /var/run/postgresql; \
    chmod 0700 "$PGDATA"; \
    postgres --version

COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh

VOLUME ["/var/lib/postgresql/data"]
# SIGINT = fast shutdown (SIGTERM = smart shutdown waits for every client to leave)
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
