"""Unit tests of the shared pieces that need neither broker nor database."""

from __future__ import annotations

import base64
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from cryptography.fernet import Fernet

from sikader_shared.clock import FixedClock
from sikader_shared.crypto import FieldCipher, FieldCipherError, new_key
from sikader_shared.db import async_url
from sikader_shared.envelope import EnvelopeError, new_envelope, parse_envelope
from sikader_shared.inbox import DeadLetter, _type_family
from sikader_shared.partitioner import murmur2, partition_for
from sikader_shared.topics import CATALOGUE, MIN_PARTITIONS, all_topic_names, dlq_topic


def test_envelope_round_trip_and_contract_headers() -> None:
    env = new_envelope(
        service="certification",
        ce_type="sikader.certification.CadreCertified.v1",
        subject="cadre-1",
        time=datetime(2026, 11, 29, 8, 0, tzinfo=UTC),
        actor="dinkes",
    )
    h = env.headers()
    assert set(h) == {
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
        "content-type", "ce_actor", "ce_correlationid", "ce_causationid",
    }  # fmt: skip
    assert h["ce_source"] == "sikader/certification" and h["ce_time"] == "2026-11-29T08:00:00Z"
    assert h["ce_correlationid"] == env.id == h["ce_causationid"]  # a chain starts with itself
    back = parse_envelope(h)
    assert back == env


def test_envelope_causation_follows_the_cause() -> None:
    env = new_envelope(
        service="incentives", ce_type="x.v1", subject="s", time=datetime.now(UTC), actor=None,
        correlation_id="corr-1", causation_id="cause-1",
    )  # fmt: skip
    assert (env.actor, env.correlation_id, env.causation_id) == ("system", "corr-1", "cause-1")


GOOD_HEADERS = {
    "ce_specversion": "1.0", "ce_id": "1", "ce_type": "t", "ce_source": "s", "ce_time": "2026-11-29T08:00:00Z",
    "ce_subject": "a", "content-type": "application/json", "ce_actor": "system", "ce_correlationid": "1",
    "ce_causationid": "1",
}  # fmt: skip


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing CloudEvents headers"),
        ({**GOOD_HEADERS, "ce_actor": ""}, "missing CloudEvents headers: ce_actor"),
        ({**GOOD_HEADERS, "ce_specversion": "0.3"}, "unsupported ce_specversion"),
        ({**GOOD_HEADERS, "ce_time": "yesterday"}, "RFC 3339"),
        ({**GOOD_HEADERS, "content-type": "text/plain"}, "content-type"),
        ({**GOOD_HEADERS, "ce_id": "x" * 101}, "ce_id is not an id"),
        ({**GOOD_HEADERS, "ce_id": "a\x00b"}, "ce_id is not an id"),
    ],
)
def test_bad_envelopes_are_refused_with_a_reason(headers: dict[str, str], message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        parse_envelope(headers)
    assert parse_envelope(GOOD_HEADERS).subject == "a"


def test_field_cipher_round_trip_rotation_and_wrong_key() -> None:
    old, new = new_key(), new_key()
    token = FieldCipher(old).encrypt("+6281234567890")
    assert token is not None and "+62812" not in token
    assert FieldCipher(new, old).decrypt(token) == "+6281234567890"  # rotation: old key still reads
    with pytest.raises(FieldCipherError):
        FieldCipher(new).decrypt(token)
    with pytest.raises(FieldCipherError):
        FieldCipher("")
    assert FieldCipher(old).encrypt(None) is None


def test_field_cipher_encrypt_many_gives_standard_fernet_tokens() -> None:
    """The bulk path builds Fernet tokens itself: the reference implementation must read
    them, for every padding length, multi-byte text and None, each with its own IV."""
    key = new_key()
    values: list[str | None] = ["", "a" * 15, "b" * 16, "c" * 17, "d" * 48, "Jl. Mulawarman RT 012", None, "é漢字" * 9]
    values += [f"08{n:010d}" for n in range(200)]
    tokens = FieldCipher(key).encrypt_many(values)
    reference = Fernet(key.encode("ascii"))
    for value, token in zip(values, tokens, strict=True):
        if value is None:
            assert token is None
            continue
        assert token is not None and token.startswith(FieldCipher(key).key_id + ":")
        assert reference.decrypt(token.split(":", 1)[1].encode("ascii")).decode("utf-8") == value
        assert FieldCipher(new_key(), key).decrypt(token) == value  # readable after rotation too
    ivs = {base64.urlsafe_b64decode(t.split(":", 1)[1])[9:25] for t in tokens if t is not None}
    assert len(ivs) == len([v for v in values if v is not None])
    assert FieldCipher(key).encrypt_many([]) == []


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 31, 16, 30, tzinfo=UTC))
    assert clock.now() == clock.now()
    clock.advance(timedelta(days=1))
    assert clock.now() == datetime(2026, 2, 1, 16, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        FixedClock(datetime(2026, 1, 1))


def test_database_urls_get_async_drivers() -> None:
    assert async_url("postgresql://u@h:5432/db").startswith("postgresql+asyncpg://")
    assert async_url("sqlite:///var/x.db") == "sqlite+aiosqlite:///var/x.db"


def test_topic_catalogue_matches_the_contract() -> None:
    assert {t.name for t in CATALOGUE} == {
        "sikader.registry.posyandu.v1", "sikader.registry.cadre.v1", "sikader.registry.cadre-private.v1",
        "sikader.certification.v1", "sikader.incentives.v1", "sikader.notifications.v1", "sikader.auth.v1",
    }  # fmt: skip
    assert dlq_topic("registry") in all_topic_names()
    assert MIN_PARTITIONS >= 6


def test_type_family_strips_the_major_version() -> None:
    assert _type_family("sikader.registry.CadreRegistered.v12") == "sikader.registry.CadreRegistered"


class _Rec:
    topic = "sikader.registry.cadre.v1"
    partition = 3
    offset = 42
    key = b"k"
    value = b"v"
    headers = [("ce_id", b"1"), ("dlq_error", b"stale")]


def test_dead_letter_headers_keep_the_original_and_add_the_reason() -> None:
    h = dict(DeadLetter(_Rec(), "schema: bad", 3).headers("sikader-incentives"))
    assert h["ce_id"] == b"1"
    assert h["dlq_topic"] == b"sikader.registry.cadre.v1" and h["dlq_partition"] == b"3"
    assert h["dlq_offset"] == b"42" and h["dlq_error"] == b"schema: bad"
    assert h["dlq_attempts"] == b"3" and h["dlq_consumer"] == b"sikader-incentives"


def test_kafka_security_settings_for_a_real_cluster() -> None:
    from faststream.security import SASLScram512

    from sikader_shared.kafka import faststream_security, security_kwargs
    from sikader_shared.settings import ServiceSettings

    plain = ServiceSettings()
    assert security_kwargs(plain) == {"security_protocol": "PLAINTEXT"} and faststream_security(plain) is None
    secure = ServiceSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc", kafka_sasl_password="pw")
    kwargs = security_kwargs(secure)
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512" and kwargs["sasl_plain_username"] == "svc"
    assert kwargs["ssl_context"] is not None
    assert isinstance(faststream_security(secure), SASLScram512)
    with pytest.raises(ValueError, match="KAFKA_SECURITY_PROTOCOL"):
        security_kwargs(ServiceSettings(kafka_security_protocol="TLS"))


def test_partitioner_agrees_with_kafkas_default_partitioner() -> None:
    """Every Kafka client must put an aggregate's events on the same partition."""
    rng = random.Random(6471)
    reference = DefaultPartitioner()
    partitions = list(range(6))
    keys = [rng.randbytes(rng.randint(0, 80)) for _ in range(3000)]
    keys += [str(uuid.UUID(int=n)).encode() for n in range(500)]
    for key in keys:
        assert murmur2(key) == reference_murmur2(key)
        assert partition_for(key, partitions, partitions) == reference(key, partitions, partitions)
        assert partition_for(key, list(range(12)), []) == reference(key, list(range(12)), [])
    assert partition_for(None, partitions, [4]) == 4  # no key: any available partition


def test_a_new_kafka_cluster_id_is_never_taken_for_an_option() -> None:
    """A cluster id starting with '-' made the storage tool's `format -t <id>` fail (1 in 64)."""
    from sikader_shared.local_kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(5000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
