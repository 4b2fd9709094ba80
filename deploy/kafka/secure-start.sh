#!/bin/sh
# Entrypoint of the secure broker (deploy/compose.secure.yml), for the apache/kafka image and the
# local one (both have /opt/kafka/bin):
# - every KAFKA_* variable becomes a broker property (as the images do: the prefix dropped,
#   lower case, "_" -> ".", "__" -> "_", "___" -> "-"); the JVM variables are not properties;
# - on the first start the storage is formatted with CLUSTER_ID and the admin's SCRAM-SHA-512
#   credential (KRaft keeps SCRAM credentials in its metadata: the first one is written here);
# - a client configuration for the admin is written for the healthcheck (/tmp, never the image);
# - then the broker runs in the foreground (exec: it gets the stop signal).
# The admin's password comes from SIKADER_KAFKA_ADMIN_PASSWORD (.env); the PEM files from the
# folder mounted at /etc/kafka/secrets. Nothing secret is baked into an image.
# (SIKADER_KAFKA_BIN / _SECRETS / _WORK move the paths: tests/kafka_access runs this script.)
set -eu
BIN=${SIKADER_KAFKA_BIN:-/opt/kafka/bin}
SECRETS=${SIKADER_KAFKA_SECRETS:-/etc/kafka/secrets}
WORK=${SIKADER_KAFKA_WORK:-/tmp/sikader-kafka}
: "${SIKADER_KAFKA_ADMIN_PASSWORD:?set SIKADER_KAFKA_ADMIN_PASSWORD in .env}"
: "${CLUSTER_ID:?set CLUSTER_ID: the storage is formatted with it on the first start}"
case "$SIKADER_KAFKA_ADMIN_PASSWORD" in
  *[!A-Za-z0-9_-]*) echo "SIKADER_KAFKA_ADMIN_PASSWORD: use only A-Z a-z 0-9 _ - (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')" >&2; exit 2 ;;
esac
mkdir -p "$WORK"
CONFIG=$WORK/server.properties
: >"$CONFIG"
env | sort | while IFS='=' read -r name value; do
  case "$name" in
    KAFKA_HEAP_OPTS | KAFKA_OPTS | KAFKA_JVM_PERFORMANCE_OPTS | KAFKA_LOG4J_OPTS | KAFKA_JMX_OPTS | KAFKA_GC_LOG_OPTS | KAFKA_VERSION) ;;
    KAFKA_*)
      key=$(printf '%s' "${name#KAFKA_}" | tr 'A-Z' 'a-z' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
      printf '%s=%s\n' "$key" "$value" >>"$CONFIG"
      ;;
  esac
done
umask 077
cat >"$WORK/admin.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$SIKADER_KAFKA_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$SECRETS/ca.pem
PROPS
log_dir=$(sed -n 's/^log\.dirs=//p' "$CONFIG" | cut -d, -f1)
log_dir=${log_dir:-/tmp/kraft-combined-logs}
if [ ! -f "$log_dir/meta.properties" ]; then
  KAFKA_HEAP_OPTS=-Xmx256m "$BIN/kafka-storage.sh" format -t "$CLUSTER_ID" -c "$CONFIG" --ignore-formatted \
    --add-scram "SCRAM-SHA-512=[name=admin,password=$SIKADER_KAFKA_ADMIN_PASSWORD]"
fi
exec "$BIN/kafka-server-start.sh" "$CONFIG"
