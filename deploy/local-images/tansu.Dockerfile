# Local Kafka-compatible broker image (Tansu, static binary) for machines without a registry.
# Build context: a directory containing the `tansu` binary (see build.sh).
FROM scratch
COPY tansu /tansu
# Tansu shuts down promptly on SIGINT; SIGTERM keeps the port busy for up to 5 s.
STOPSIGNAL SIGINT
EXPOSE 9092
ENTRYPOINT ["/tansu"]
# Override the whole command at run time to change the listener / advertised URL, e.g.
#   podman run -p 19092:19092 localhost/sikader-tansu:latest broker \
#     --listener-url tcp://0.0.0.0:19092 --advertised-listener-url tcp://127.0.0.1:19092
# (or pass command `broker` only and set LISTENER_URL / ADVERTISED_LISTENER_URL env vars).
CMD ["broker", "--listener-url", "tcp://0.0.0.0:9092", "--advertised-listener-url", "tcp://127.0.0.1:9092"]
