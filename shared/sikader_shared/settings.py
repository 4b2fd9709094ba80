"""Settings common to every service. Each service subclasses `ServiceSettings` with its own
env prefix (SIKADER_REGISTRY_, ...). A few variables are shared by all services and read
without a prefix as well (KAFKA_BOOTSTRAP_SERVERS, SIKADER_CONTACT_KEY, ...)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str, prefix_free: str) -> AliasChoices:
    return AliasChoices(name, prefix_free)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    database_url: str = ""  # empty -> sqlite file under var/
    var_dir: str = Field("var", validation_alias=_env("var_dir", "SIKADER_VAR_DIR"))

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=_env("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS")
    )
    # Consumer timing: the local broker answers a fetch only after fetch_max_wait_ms, and a
    # group join costs half the session timeout, so low values matter for latency there.
    fetch_max_wait_ms: int = Field(20, validation_alias=_env("fetch_max_wait_ms", "SIKADER_FETCH_MAX_WAIT_MS"))
    session_timeout_ms: int = Field(6000, validation_alias=_env("session_timeout_ms", "SIKADER_SESSION_TIMEOUT_MS"))
    heartbeat_interval_ms: int = Field(
        500, validation_alias=_env("heartbeat_interval_ms", "SIKADER_HEARTBEAT_INTERVAL_MS")
    )
    consumer_group: str = ""  # default sikader-<service>; another group re-reads everything
    consumer_max_records: int = 500
    consumer_batch_timeout_ms: int = 50
    # consumer lag: end offsets against the group's committed offsets, measured on this timer; a
    # partition with records pending whose offset has not moved for stall_after_s is "stalled"
    consumer_lag_interval_s: float = Field(
        5.0, validation_alias=_env("consumer_lag_interval_s", "SIKADER_CONSUMER_LAG_INTERVAL_S")
    )
    consumer_stall_after_s: float = Field(
        60.0, validation_alias=_env("consumer_stall_after_s", "SIKADER_CONSUMER_STALL_AFTER_S")
    )
    handler_max_attempts: int = 3  # then the message goes to the DLQ
    max_event_bytes: int = 262_144  # a larger body is dead-lettered unread
    # A dead letter larger than this goes to the DLQ topic with its body replaced by a reference
    # (origin, size, sha256): under the producer's 1 MiB request and the broker's message.max.bytes.
    dlq_max_message_bytes: int = 1_000_000
    dlq_publish_attempts: int = 3  # then the dead letter is kept in the DLQ log (dlq CLI)
    topic_partitions: int = Field(6, validation_alias=_env("topic_partitions", "SIKADER_TOPIC_PARTITIONS"))
    topic_replication_factor: int = Field(
        1, validation_alias=_env("topic_replication_factor", "SIKADER_TOPIC_REPLICATION_FACTOR")
    )

    outbox_batch_size: int = 2000  # events per publish round trip (docs/benchmarks.md: why 2,000)
    outbox_retention_days: int | None = None  # None keeps published events for ever
    outbox_idle_poll_s: float = 1.0  # only for rows written by other processes (CLI)
    # while a bulk request (an import) runs, the relay publishes one batch per this many seconds
    outbox_bulk_pause_s: float = 1.0
    broker_check_interval_s: float = Field(
        2.0, validation_alias=_env("broker_check_interval_s", "SIKADER_BROKER_CHECK_INTERVAL_S")
    )
    # Security for a real Kafka cluster (the local broker runs PLAINTEXT).
    kafka_security_protocol: str = Field(
        "PLAINTEXT", validation_alias=_env("kafka_security_protocol", "KAFKA_SECURITY_PROTOCOL")
    )  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    kafka_sasl_mechanism: str = Field(
        "SCRAM-SHA-512", validation_alias=_env("kafka_sasl_mechanism", "KAFKA_SASL_MECHANISM")
    )  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_sasl_username: str = Field("", validation_alias=_env("kafka_sasl_username", "KAFKA_SASL_USERNAME"))
    kafka_sasl_password: str = Field("", validation_alias=_env("kafka_sasl_password", "KAFKA_SASL_PASSWORD"))
    kafka_ssl_cafile: str = Field("", validation_alias=_env("kafka_ssl_cafile", "KAFKA_SSL_CAFILE"))
    kafka_ssl_certfile: str = Field("", validation_alias=_env("kafka_ssl_certfile", "KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: str = Field("", validation_alias=_env("kafka_ssl_keyfile", "KAFKA_SSL_KEYFILE"))
    # acks=all + idempotence: no duplicates or reordering from producer retries (Apache Kafka).
    # Off only for Tansu, which has no InitProducerId: make run and the test harness set it false
    # when they start Tansu.
    producer_idempotence: bool = Field(
        True, validation_alias=_env("producer_idempotence", "SIKADER_PRODUCER_IDEMPOTENCE")
    )

    # Field encryption keys for the private topic (Fernet, urlsafe base64). Only the services
    # that must read a field get its key: notifications (contact), incentives (payment).
    contact_key: str = Field("", validation_alias=_env("contact_key", "SIKADER_CONTACT_KEY"))
    payment_key: str = Field("", validation_alias=_env("payment_key", "SIKADER_PAYMENT_KEY"))

    # Per client address and replica, per minute: routes anyone may call (certificate
    # verification, unsubscribe pages) and requests with a bad or revoked key; 0 switches a limit
    # off. Behind a reverse proxy, list its addresses (IPs, CIDRs or host names) in trusted_proxies
    # so that X-Forwarded-For names the client.
    rate_limit_public_per_minute: int = Field(
        60, validation_alias=_env("rate_limit_public_per_minute", "SIKADER_RATE_LIMIT_PUBLIC_PER_MINUTE")
    )
    rate_limit_auth_failures_per_minute: int = Field(
        20, validation_alias=_env("rate_limit_auth_failures_per_minute", "SIKADER_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE")
    )
    trusted_proxies: str = Field("", validation_alias=_env("trusted_proxies", "SIKADER_TRUSTED_PROXIES"))

    log_level: str = Field("INFO", validation_alias=_env("log_level", "SIKADER_LOG_LEVEL"))
    log_json: bool = True
    asyncapi_try_it_out: bool = False
    # The broker address agencies use (SASL_SSL, SCRAM-SHA-512), as the AsyncAPI documents name it.
    asyncapi_kafka_server: str = Field(
        "kafka.sikader.example:9094",
        validation_alias=_env("asyncapi_kafka_server", "SIKADER_ASYNCAPI_KAFKA_SERVER"),
    )

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir}/{self.service_name}.db"
