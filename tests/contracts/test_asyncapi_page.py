"""/asyncapi: the document rendered as a readable page that works offline."""

from __future__ import annotations

import re

from asyncapi_support import service_documents

from sikader_shared import asyncapi, topics
from sikader_shared.docs import asyncapi_html


def test_page_shows_channels_messages_headers_and_fields() -> None:
    page = asyncapi_html(asyncapi.platform_document())
    for topic in topics.all_topic_names():
        assert f"<code>{topic}</code>" in page
    for text in (
        "CadreCertified v1",  # a message
        "certificate_number",  # a body field
        "ce_correlationid",  # a header
        "dlq_consumer",  # a DLQ header
        "id='schema-EquipmentItem'",  # a nested type, with its fields
        "<code>functional</code>",
        "kafka.sikader.example:9094",  # the server
        "scramSha512",
        "agency-readable",
        "Siti Rahmawati",  # an example
    ):
        assert text in page, text
    assert page.count("<table>") > 60  # fields as tables, not a JSON dump of the schema
    assert '"$ref"' not in page and "&quot;$ref&quot;" not in page


def test_page_is_offline_and_escapes_what_it_shows() -> None:
    doc = service_documents()["registry"]
    doc["info"]["title"] = "<script>alert(1)</script>"
    page = asyncapi_html(doc)
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"\bsrc=", page)
    links = re.findall(r"href='([^']*)'", page)
    assert links and all(link.startswith("#") or link == "/asyncapi.json" for link in links)
    assert "<link" not in page and "@import" not in page
    # every in-page link has its target
    for anchor in {link[1:] for link in links if link.startswith("#")}:
        assert f"id='{anchor}'" in page, anchor
