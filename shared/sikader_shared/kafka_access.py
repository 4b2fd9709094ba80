"""Broker access per principal on the secure broker (kafka_secure): SCRAM-SHA-512 users and
their ACLs, applied with confluent-kafka's AdminClient (aiokafka has no SCRAM or ACL admin
APIs). Run as the admin (a super user).

- An agency (`opd-<client>`) may read the public topics and use the consumer groups that start
  with `opd.<client>.`; nothing else. The private, auth and DLQ topics are denied explicitly,
  so a broader grant added later cannot open them. It never writes.
- A service (`sikader-<service>`) produces its own topics, the auth topic and its DLQ; reads
  the catalogue's topics (the private one only incentives and notifications, which decrypt it),
  its DLQ and its epoch marker; uses its group `sikader-<service>`; and creates `sikader.*`
  topics (the broker watcher heals a broker that lost its data by re-creating them)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclBindingFilter, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from sikader_shared import topics

AGENCY_USER_PREFIX = "opd-"
SERVICE_USER_PREFIX = "sikader-"
# the API keys' client ids (letters, digits, '-', '_'), ASCII, starting with a letter or digit
CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SCRAM_ITERATIONS = 8192
CLUSTER = "kafka-cluster"
# librdkafka names Kafka's CLUSTER resource type BROKER (both are type 4 on the wire)
_LIBRDKAFKA_TYPE = {"topic": "TOPIC", "group": "GROUP", "cluster": "BROKER"}
_RESOURCE = {v: k for k, v in _LIBRDKAFKA_TYPE.items()}
DLQ_PREFIX = topics.dlq_topic("")
TOPIC_PREFIX = "sikader."
# The services that consume the private topic (they hold its keys); its owner only writes it.
# tests/kafka_access/test_access_policy.py checks this against the services' handler tables.
PRIVATE_READERS = ("incentives", "notifications")


class AccessError(ValueError):
    """Bad input (an invalid client id, an unknown service) or a refusal by the broker."""


@dataclass(frozen=True)
class Grant:
    """One ACL: `permission` of `operation` on a resource, for a principal (the user's)."""

    resource: str  # "topic" | "group" | "cluster"
    name: str
    operation: str  # READ, WRITE, DESCRIBE, CREATE, IDEMPOTENT_WRITE
    pattern: str = "literal"  # "literal" | "prefixed"
    permission: str = "ALLOW"  # ALLOW | DENY


def public_topics() -> list[str]:
    """What any agency may read: the catalogue without the private and auth topics."""
    return [t.name for t in topics.CATALOGUE if not t.restricted and t.name != topics.AUTH]


def agency_user(client: str) -> str:
    if not CLIENT_ID.match(client):
        raise AccessError(
            f"invalid client id {client!r}: up to 64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return f"{AGENCY_USER_PREFIX}{client}"


def agency_group_prefix(client: str) -> str:
    return f"opd.{client}."


def agency_grants(client: str) -> list[Grant]:
    agency_user(client)  # validates
    grants = [Grant("topic", name, op) for name in public_topics() for op in ("READ", "DESCRIBE")]
    grants.append(Grant("group", agency_group_prefix(client), "READ", "prefixed"))
    denied = [Grant("topic", topics.CADRE_PRIVATE, "ALL", permission="DENY")]
    denied.append(Grant("topic", topics.AUTH, "ALL", permission="DENY"))
    denied.append(Grant("topic", DLQ_PREFIX, "ALL", "prefixed", "DENY"))
    return grants + denied


def service_user(service: str) -> str:
    if service not in topics.SERVICES:
        raise AccessError(f"unknown service {service!r}: one of {', '.join(topics.SERVICES)}")
    return f"{SERVICE_USER_PREFIX}{service}"


def service_grants(service: str) -> list[Grant]:
    service_user(service)  # validates
    owned = [t.name for t in topics.CATALOGUE if t.owner in (service, "*")]
    dlq, epoch = topics.dlq_topic(service), topics.epoch_topic(service)
    grants = [Grant("topic", name, "WRITE") for name in [*owned, dlq]]
    readable = [t.name for t in topics.CATALOGUE if not t.restricted or service in PRIVATE_READERS]
    grants += [Grant("topic", name, "READ") for name in [*readable, dlq, epoch]]
    grants += [
        Grant("topic", TOPIC_PREFIX, "DESCRIBE", "prefixed"),
        Grant("topic", TOPIC_PREFIX, "CREATE", "prefixed"),
        Grant("group", f"{SERVICE_USER_PREFIX}{service}", "READ"),
        Grant("cluster", CLUSTER, "DESCRIBE"),
        Grant("cluster", CLUSTER, "IDEMPOTENT_WRITE"),
    ]
    return grants


def new_password() -> str:
    return secrets.token_urlsafe(24)


def admin_config(
    bootstrap: str, username: str, password: str, cafile: str = "", protocol: str = "SASL_SSL"
) -> dict[str, Any]:
    """librdkafka settings for the admin's connection."""
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "security.protocol": protocol,
        "socket.timeout.ms": 10000,
        "log_level": 2,  # librdkafka's retries are not printed; a failure is reported once, as an AccessError
    }
    if protocol.startswith("SASL"):
        conf.update({"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": username, "sasl.password": password})
    if cafile:
        conf["ssl.ca.location"] = cafile
    return conf


def _user_filter(user: str) -> AclBindingFilter:
    """Every ACL of `user` (None: any resource name, any host)."""
    return AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{user}", None,  # type: ignore[arg-type]
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip


class KafkaAccess:
    """The admin's operations: users (SCRAM credentials) and their ACLs."""

    def __init__(self, config: dict[str, Any], timeout: float = 15.0) -> None:
        try:
            self.admin = AdminClient(config)
        except KafkaException as exc:
            raise AccessError(f"cannot connect as the admin: {exc}") from exc
        self.timeout = timeout

    def _bindings(self, user: str, grants: Iterable[Grant], kind: type = AclBinding) -> list[Any]:
        """`grants` as librdkafka's ACL bindings (or, with `kind=AclBindingFilter`, as filters
        that match exactly those bindings)."""
        return [
            kind(
                ResourceType[_LIBRDKAFKA_TYPE[g.resource]],
                g.name,
                ResourcePatternType[g.pattern.upper()],
                f"User:{user}",
                "*",
                AclOperation[g.operation],
                AclPermissionType[g.permission],
            )
            for g in grants
        ]

    def _result(self, future: Any) -> Any:
        try:
            return future.result(timeout=self.timeout)
        except Exception as exc:
            raise AccessError(f"the broker refused or did not answer: {str(exc) or repr(exc)}") from exc

    def _wait(self, futures: dict[Any, Any]) -> None:
        errors = []
        for key, future in futures.items():
            try:
                future.result(timeout=self.timeout)
            except Exception as exc:
                errors.append(f"{key}: {exc}")
        if errors:
            raise AccessError("; ".join(errors))

    def upsert_user(self, user: str, password: str) -> None:
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
        upsertion = UserScramCredentialUpsertion(user, info, password.encode())
        self._wait(self.admin.alter_user_scram_credentials([upsertion]))

    def grant(self, user: str, grants: Iterable[Grant]) -> None:
        self._wait(self.admin.create_acls(self._bindings(user, grants)))

    def sync(self, user: str, grants: list[Grant]) -> int:
        """Make `user`'s ACLs exactly `grants`: the missing ones are added first (adding an
        existing ACL changes nothing), then the others deleted, so a running client never goes
        without its ACLs. Returns how many were deleted."""
        self.grant(user, grants)
        stale = [g for g in self.acls(user) if g not in grants]
        if not stale:
            return 0
        deleted = 0
        for future in self.admin.delete_acls(self._bindings(user, stale, AclBindingFilter)).values():
            deleted += len(self._result(future))
        return deleted

    def revoke_all(self, user: str) -> int:
        """Every ACL of `user` deleted; returns how many."""
        deleted = 0
        for future in self.admin.delete_acls([_user_filter(user)]).values():
            deleted += len(self._result(future))
        return deleted

    def delete_user(self, user: str) -> None:
        deletion = UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)
        self._wait(self.admin.alter_user_scram_credentials([deletion]))

    def users(self) -> list[str]:
        described = self.admin.describe_user_scram_credentials()
        result = self._result(described) if hasattr(described, "result") else described
        return sorted(str(n) for n in (result if isinstance(result, dict) else {}))

    def acls(self, user: str) -> list[Grant]:
        bindings = self._result(self.admin.describe_acls(_user_filter(user)))
        grants = [
            Grant(
                _RESOURCE[b.restype.name],
                b.name,
                b.operation.name,
                b.resource_pattern_type.name.lower(),
                b.permission_type.name,
            )
            for b in bindings
        ]
        return sorted(grants, key=lambda g: (g.resource, g.name, g.operation))

    # -- what the CLI offers -----------------------------------------------------------------

    def add_agency(self, client: str, password: str | None = None) -> dict[str, Any]:
        """The agency's user (a new password unless given) and its ACLs; run again, it resets
        the password and brings the ACLs back to exactly the policy."""
        user, password = agency_user(client), password or new_password()
        self.upsert_user(user, password)
        self.sync(user, agency_grants(client))
        return {
            "client_id": client,
            "username": user,
            "password": password,
            "mechanism": "SCRAM-SHA-512",
            "group_prefix": agency_group_prefix(client),
            "topics": public_topics(),
        }

    def remove_agency(self, client: str) -> dict[str, Any]:
        user = agency_user(client)
        acls = self.revoke_all(user)
        if user in self.users():
            self.delete_user(user)
        return {"client_id": client, "username": user, "acls_deleted": acls}

    def list_agencies(self) -> list[dict[str, Any]]:
        return [
            {"username": u, "client_id": u.removeprefix(AGENCY_USER_PREFIX), "acls": [asdict(g) for g in self.acls(u)]}
            for u in self.users()
            if u.startswith(AGENCY_USER_PREFIX)
        ]

    def setup_services(self, passwords: dict[str, str]) -> list[dict[str, Any]]:
        """Each service's user and ACLs; `passwords` maps a service to its password (one is
        generated for a service not given)."""
        out = []
        for service in topics.SERVICES:
            user, password = service_user(service), passwords.get(service) or new_password()
            self.upsert_user(user, password)
            self.sync(user, service_grants(service))
            out.append({"service": service, "username": user, "password": password})
        return out
