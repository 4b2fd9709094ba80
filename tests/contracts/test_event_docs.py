from sikader_shared.event_docs import DEFAULT_OUT, render
from sikader_shared.events import EVENT_MODELS


def test_event_catalogue_doc_is_up_to_date() -> None:
    assert DEFAULT_OUT.read_text(encoding="utf-8") == render(), "run: python -m sikader_shared.event_docs"


def test_event_catalogue_doc_names_every_event_type() -> None:
    text = render()
    for ce_type in EVENT_MODELS:
        assert f"`{ce_type}`" in text


def test_event_catalogue_shows_nested_types_and_example_messages() -> None:
    from sikader_shared.events.samples import sample_message

    text = render()
    for name in ("EligibilityReason", "EquipmentItem", "ManagementRole", "PosyanduInstitution", "AreaTotal"):
        assert f"### {name}\n" in text
        assert f"[{name}](#{name.lower()})" in text  # linked from the fields that hold it
    assert "| `functional` |" in text and "| `source_event_ids` |" in text
    assert text.count("Example message (key, headers, body):") == len(EVENT_MODELS)
    for model in EVENT_MODELS.values():
        assert f'"ce_id": "{sample_message(model).headers["ce_id"]}"' in text
    assert "## Dead-letter topics" in text and "| `dlq_consumer` |" in text
