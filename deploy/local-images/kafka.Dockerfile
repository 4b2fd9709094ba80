# Local Apache Kafka image (localhost/sikader-kafka:<version>) for machines that cannot pull
# apache/kafka: Debian's openjdk-17-jre-headless on the local Debian base image, and the same
# Maven Central jars the tests and `make run` use (version pinned in deploy/kafka/version.env).
# It reproduces the interface of the official image that docker-compose.yml relies on:
# KAFKA_* variables -> server.properties, storage formatted from CLUSTER_ID on the first start,
# /opt/kafka/bin/*.sh (kafka-broker-api-versions.sh for the health check, kafka-storage.sh,
# kafka-metadata-quorum.sh, kafka-topics.sh, ...). Build context: made by build.sh --with-kafka.
ARG BASE_IMAGE=localhost/debian-python:bookworm
FROM ${BASE_IMAGE}

RUN set -eux; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update; \
    mkdir -p /usr/share/man/man1; \
    apt-get install -y --no-install-recommends openjdk-17-jre-headless; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb; \
    java -version; \
    useradd --uid 1000 --create-home --shell /usr/sbin/nologin appuser; \
    mkdir -p /opt/kafka/config /var/lib/kafka/data /etc/kafka/docker; \
    chown -R appuser:appuser /opt/kafka/config /var/lib/kafka

ARG KAFKA_VERSION
ENV KAFKA_VERSION=${KAFKA_VERSION} PATH=/opt/kafka/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY libs/ /opt/kafka/libs/
COPY bin/ /opt/kafka/bin/
COPY log4j2.properties /opt/kafka/config/log4j2.properties
COPY run /etc/kafka/docker/run

USER appuser
VOLUME ["/var/lib/kafka/data"]
EXPOSE 9092 9093
ENTRYPOINT ["/etc/kafka/docker/run"]
