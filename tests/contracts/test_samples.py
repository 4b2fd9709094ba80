"""events.samples: one sample of every event type, valid by its model and its published JSON
Schema, and a Kafka message a consumer of the contract accepts."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from sikader_shared.envelope import parse_envelope
from sikader_shared.events import EVENT_MODELS, CadreCertified, model_for
from sikader_shared.events.base import Event
from sikader_shared.events.samples import sample, sample_message, samples
from sikader_shared.schema_export import SCHEMA_DIR


def test_every_event_type_has_a_sample() -> None:
    all_samples = samples()
    assert set(all_samples) == set(EVENT_MODELS.values())
    for model, event in all_samples.items():
        assert type(event) is model


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_sample_is_valid_against_its_published_schema(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    body = sample(model).to_json_dict()
    schema = json.loads((SCHEMA_DIR / f"{ce_type}.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(body)
    optional = set(schema["properties"]) - set(schema.get("required", []))
    unset = {name for name in optional if body.get(name) in (None, [], "")}
    assert len(unset) <= len(optional) // 2 + 1, f"a realistic sample fills most optional fields: {unset}"


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_sample_message_is_what_a_consumer_accepts(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    message = sample_message(model)
    envelope = parse_envelope(message.headers)  # the consumer's own envelope check
    assert envelope.type == ce_type and envelope.subject == message.key
    found = model_for(envelope.type)
    assert found is model
    event: Event = found.model_validate(message.body)
    assert event == sample(model)
    assert message == sample_message(model)  # deterministic: the docs generated from it are stable


def test_samples_are_balikpapan_data() -> None:
    certified = sample(CadreCertified)
    assert isinstance(certified, CadreCertified)
    assert certified.kelurahan_code and certified.kelurahan_code.startswith("64.71.")
    assert certified.issuer == "Dinas Kesehatan Kota Balikpapan"
    with pytest.raises(KeyError, match="no sample"):
        sample(type("Unregistered", (CadreCertified,), {"event_name": "Unregistered"}))
