"""Prometheus metrics. Each service process has its own registry, so several services can
run in one test process without clashing."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        self.requests = Counter(
            "sikader_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "sikader_http_request_seconds", "HTTP request duration", ["method", "route"], registry=self.registry
        )
        self.consumer_lag = Gauge(
            "sikader_consumer_lag",
            "Records between the group's committed offset and the partition's end (measured on a timer)",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.consumer_stalled = Gauge(
            "sikader_consumer_stalled_partitions",
            "Partitions with records pending whose committed offset has not moved for the stall setting",
            registry=self.registry,
        )
        self.events_applied = Counter("sikader_events_applied_total", "Events applied", registry=self.registry)
        self.outbox_backlog = Gauge("sikader_outbox_backlog", "Outbox rows not yet published", registry=self.registry)
        # counters (the _total suffix is added by the client library)
        self.outbox_published = Counter(
            "sikader_outbox_published", "Outbox rows published by this process", registry=self.registry
        )
        self.dlq_messages = Counter(
            "sikader_dlq_messages", "Messages this process dead-lettered", registry=self.registry
        )
        self.dlq_kept = Gauge(
            "sikader_dlq_kept_unpublished",
            "Dead letters the DLQ topic did not take, kept in the database (the dlq CLI re-drives them)",
            registry=self.registry,
        )
        self.broker_up = Gauge("sikader_broker_up", "1 when the broker answered the last check", registry=self.registry)
        self.info = Gauge("sikader_service_info", "Service identity", list(labels), registry=self.registry)
        self.info.labels(**labels).set(1)
