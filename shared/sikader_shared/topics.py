"""The topic catalogue of the public contract (../shared/CONTRACT.md)."""

from __future__ import annotations

from dataclasses import dataclass

MIN_PARTITIONS = 6


@dataclass(frozen=True)
class TopicSpec:
    name: str
    owner: str  # the service that publishes to it ("*" = any service)
    description: str
    restricted: bool = False


POSYANDU = "sikader.registry.posyandu.v1"
CADRE = "sikader.registry.cadre.v1"
CADRE_PRIVATE = "sikader.registry.cadre-private.v1"
CERTIFICATION = "sikader.certification.v1"
INCENTIVES = "sikader.incentives.v1"
NOTIFICATIONS = "sikader.notifications.v1"
AUTH = "sikader.auth.v1"

SERVICES = ("registry", "certification", "incentives", "notifications")

CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(POSYANDU, "registry", "Posyandu institutions, facility assessments, verification, closure"),
    TopicSpec(CADRE, "registry", "Cadre register: identity (no NIK), assignment, status"),
    TopicSpec(
        CADRE_PRIVATE,
        "registry",
        "Contact and payment details, encrypted field by field",
        restricted=True,
    ),
    TopicSpec(CERTIFICATION, "certification", "Trainings, skill badges, certificates"),
    TopicSpec(INCENTIVES, "incentives", "Eligibility, monthly periods, payments"),
    TopicSpec(NOTIFICATIONS, "notifications", "Delivery outcomes"),
    TopicSpec(AUTH, "*", "API key issue and revocation (hashes and scopes only)"),
)


def dlq_topic(service: str) -> str:
    return f"sikader.dlq.{service}"


def epoch_topic(service: str) -> str:
    """A marker topic only `service` creates: when it is missing, the broker lost its data
    (a local broker restarts empty) and the service must heal (re-create topics, re-publish)."""
    return f"sikader.epoch.{service}"


def all_topic_names() -> list[str]:
    return [t.name for t in CATALOGUE] + [dlq_topic(s) for s in SERVICES]
