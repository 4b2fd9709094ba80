#!/bin/sh
# java -cp <the jars> <main class> <args>, as the distribution's kafka-run-class.sh does.
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} \
  ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties} ${KAFKA_OPTS:-} \
  -cp "/opt/kafka/libs/*" "$@"
