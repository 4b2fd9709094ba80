from sikader_shared.event_docs import DEFAULT_OUT, render
from sikader_shared.events import EVENT_MODELS


def test_event_catalogue_doc_is_up_to_date() -> None:
    assert DEFAULT_OUT.read_text(encoding="utf-8") == render(), "run: python -m sikader_shared.event_docs"


def test_event_catalogue_doc_names_every_event_type() -> None:
    text = render()
    for ce_type in EVENT_MODELS:
        assert f"`{ce_type}`" in text
