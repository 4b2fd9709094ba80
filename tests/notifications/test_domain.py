"""Unit tests of the notifications domain: rules, templates, signatures, tokens, timing."""

from __future__ import annotations

import json
import random
import smtplib
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notifications.domain.rules import Audience, OpdInbox, Rule, load_rules, plan_messages
from notifications.domain.schedule import QuietHours, broadcast_slot, exponential_schedule, retry_delay
from notifications.domain.signing import (
    read_unsubscribe_token,
    redact,
    unsubscribe_token,
    verify_webhook,
    webhook_signature,
)
from notifications.domain.subscriptions import (
    SUBSCRIBABLE,
    literal_address,
    matches,
    normalise_event_type,
    refused_destination,
)
from notifications.domain.templates import TemplateError, Templates, periode, rupiah, tanggal
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.devsmtp import DevMailServer

DEFAULT_EVENTS = {
    "CadreCertified",
    "CertificateExpiring",
    "CertificateExpired",
    "CertificateRevoked",
    "PosyanduFacilityVerified",
    "PosyanduFacilityRejected",
    "IncentiveEligibilityChanged",
    "IncentivePeriodApproved",
    "IncentivePaymentRecorded",
}


def test_default_rules_cover_the_required_events_and_their_templates_exist() -> None:
    rules = load_rules()
    assert {r.event for r in rules} == DEFAULT_EVENTS
    templates = Templates()
    indonesian = set(templates.codes("id"))
    assert {r.template for r in rules} <= indonesian
    assert set(templates.codes("en")) <= indonesian  # English only where an Indonesian one exists


def test_plan_routes_to_cadre_head_cadre_puskesmas_and_opd_inboxes() -> None:
    rules = load_rules()
    inboxes = [
        OpdInbox(id="dinkes", email="kader@dinkes.example", language="en"),
        OpdInbox(id="dinsos", email="x@dinsos.example", events=["IncentivePeriodApproved"]),
    ]
    audience = Audience(cadre_id="c1", head_cadre_id="h1", puskesmas="Puskesmas Damai", puskesmas_email_known=True)
    plan = plan_messages(rules, "CadreCertified", {}, audience, inboxes)
    got = {(p.recipient_type, p.recipient_id, p.channel, p.language) for p in plan}
    assert got == {
        ("cadre", "c1", "email", "id"),
        ("cadre", "c1", "whatsapp", "id"),
        ("head_cadre", "h1", "email", "id"),
        ("opd_inbox", "dinkes", "email", "en"),  # dinsos only wants period approvals
    }
    # The head cadre who is the cadre concerned hears it once, as the cadre.
    same = plan_messages(rules, "CadreCertified", {}, Audience(cadre_id="c1", head_cadre_id="c1"), [])
    assert {p.recipient_type for p in same} == {"cadre"}
    # A Puskesmas without a configured mailbox is left out.
    expired = plan_messages(rules, "CertificateExpired", {}, Audience(cadre_id="c1", puskesmas="X"), [])
    assert {p.recipient_type for p in expired} == {"cadre"}


def test_rule_conditions_select_on_event_fields() -> None:
    rules = load_rules()
    inbox = [OpdInbox(id="bpkad", email="b@bpkad.example")]
    paid = plan_messages(rules, "IncentivePaymentRecorded", {"result": "paid"}, Audience(cadre_id="c"), inbox)
    failed = plan_messages(rules, "IncentivePaymentRecorded", {"result": "failed"}, Audience(cadre_id="c"), inbox)
    assert "opd_inbox" not in {p.recipient_type for p in paid}
    assert ("opd_inbox", "payment_failed_notice") in {(p.recipient_type, p.template) for p in failed}
    with pytest.raises(ValueError):
        Rule.model_validate({"event": "X", "recipient": "mayor", "channels": ["email"], "template": "t"})


def test_templates_render_indonesian_with_unsubscribe_and_english_with_fallback() -> None:
    templates = Templates()
    event = {
        "cadre_name": "Siti Aminah",
        "level": "Madya",
        "certificate_number": "KDR-2026-000123",
        "issued_on": "2026-12-05",
        "expires_on": "2029-12-05",
        "issuer": "Dinas Kesehatan Kota Balikpapan",
        "verify_url": "https://sikader.example/verify/KDR-2026-000123",
    }
    ctx = {
        "event": event,
        "cadre_name": "Siti Aminah",
        "posyandu_name": "Posyandu Melati",
        "recipient_label": "Dinkes",
        "signature": "SIKADER",
        "unsubscribe_url": "http://x/unsubscribe/tok",
    }
    mail = templates.render("cadre_certified", "id", ctx)
    assert mail.subject == "Selamat! Anda tersertifikasi sebagai Kader Madya"
    assert "5 Desember 2029" in mail.body and "KDR-2026-000123" in mail.body
    assert mail.body.rstrip().endswith("http://x/unsubscribe/tok") and "Berhenti" in mail.body
    assert "Berhenti: http://x/unsubscribe/tok" in mail.short
    english = templates.render("cadre_certified_notice", "en", {**ctx, "unsubscribe_url": None})
    assert english.subject.startswith("Cadre certified: Siti Aminah") and "5 December 2026" in english.body
    assert "unsubscribe" not in english.body
    fallback = templates.render("certificate_expiring_notice", "en", {**ctx, "event": {**event, "days_left": 30}})
    assert "berakhir" in fallback.body  # no English text: Indonesian
    with pytest.raises(TemplateError):
        templates.render("no_such_template", "id", ctx)
    with pytest.raises(TemplateError):
        templates.render("cadre_certified", "id", {"event": {}})  # missing variables fail loudly


def test_formatting_filters() -> None:
    assert tanggal("2026-08-17") == "17 Agustus 2026"
    assert tanggal("2026-08-16T20:00:00Z") == "17 Agustus 2026"  # 04:00 WITA
    assert rupiah(1250000) == "Rp 1.250.000"
    assert periode("2026-11") == "November 2026" and periode("2026-11", "en") == "November 2026"


def test_webhook_signature_verifies_and_rejects_tampering_and_replays() -> None:
    body = b'{"cadre_id":"c1"}'
    ts = str(int(time.time()))
    sig = webhook_signature("s3cret-s3cret-s3cret", ts, body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify_webhook("s3cret-s3cret-s3cret", ts, body, sig, now=time.time())
    assert not verify_webhook("s3cret-s3cret-s3cret", ts, body + b" ", sig, now=time.time())
    assert not verify_webhook("another-secret-000", ts, body, sig, now=time.time())
    assert not verify_webhook("s3cret-s3cret-s3cret", ts, body, sig, now=time.time() + 3600)


def test_unsubscribe_tokens_are_signed() -> None:
    secret = b"k" * 32
    token = unsubscribe_token(secret, "cadre-1", "sms")
    assert read_unsubscribe_token(secret, token) == ("cadre-1", "sms")
    assert read_unsubscribe_token(b"x" * 32, token) is None
    other = unsubscribe_token(secret, "cadre-2", "sms")
    forged = token.split(".")[0] + "." + other.split(".")[1]
    assert read_unsubscribe_token(secret, forged) is None
    assert read_unsubscribe_token(secret, "garbage") is None


def test_redact_strips_contact_details() -> None:
    text = redact("550 <siti@example.org> unknown; sms to +62 812-3456-7890 failed")
    assert "siti@" not in text and "3456" not in text and "550" in text


def test_retry_backoff_grows_exponentially_with_bounded_jitter_then_gives_up() -> None:
    schedule = exponential_schedule()
    assert schedule[0] == 30 and schedule[1] == 60 and sum(schedule) > 8 * 3600  # retries for hours
    rng = random.Random(7)
    for attempt in range(1, len(schedule) + 1):
        delay = retry_delay(attempt, schedule, 0.2, rng.random())
        assert delay is not None and 0.8 * schedule[attempt - 1] <= delay <= 1.2 * schedule[attempt - 1]
    assert retry_delay(len(schedule) + 1, schedule, 0.2, 0.5) is None
    assert retry_delay(1, [10.0], 0.0, 0.9) == 10.0


def test_quiet_hours_in_wita() -> None:
    quiet = QuietHours.parse("21:00", "07:00")
    evening = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 22:30 WITA
    assert quiet.is_quiet(evening)
    assert quiet.next_allowed(evening) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 07:00 WITA next day
    early = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 05:00 WITA on 2 Dec
    assert quiet.next_allowed(early) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 WITA
    assert not quiet.is_quiet(noon) and quiet.next_allowed(noon) == noon
    assert not QuietHours.parse("00:00", "00:00").is_quiet(evening)


def test_broadcast_pacing() -> None:
    start = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert broadcast_slot(start, 0, 60) == start
    assert (broadcast_slot(start, 3, 2) - start).total_seconds() == 90


def test_subscription_types_and_area_filter() -> None:
    assert normalise_event_type("CadreCertified") == "sikader.certification.CadreCertified.v1"
    assert normalise_event_type("sikader.certification.CadreCertified.v1") == "sikader.certification.CadreCertified.v1"
    assert normalise_event_type("CadreContactChanged") is None  # private topic: never
    assert normalise_event_type("NotificationDelivered") is None
    assert "PosyanduFacilityVerified" in SUBSCRIBABLE.values()
    t = "sikader.certification.CadreCertified.v1"
    assert matches([t], [], [], t, None, None)
    assert matches([t], ["64.71.01"], [], t, "64.71.01", "64.71.01.1001")
    assert not matches([t], ["64.71.02"], [], t, "64.71.01", "64.71.01.1001")
    assert matches([t], [], ["64.71.01.1001"], t, "64.71.01", "64.71.01.1001")
    assert not matches([t], ["64.71.01"], [], t, None, None)  # an area filter needs an area
    assert not matches([t], [], [], "sikader.certification.CertificateRevoked.v1", None, None)


def test_dev_mail_catcher_keeps_mail_and_gateway_messages_and_lists_them(tmp_path: Path) -> None:
    server = DevMailServer(tmp_path, smtp_port=free_port(), http_port=free_port()).start()
    try:
        with smtplib.SMTP("127.0.0.1", server.smtp_port) as smtp:
            smtp.sendmail("a@example.org", ["b@example.org"], "Subject: Halo\r\nTo: b@example.org\r\n\r\nIsi pesan")
        request = urllib.request.Request(
            server.url + "gateway/sms", data=json.dumps({"to": "+62811", "text": "Halo"}).encode(), method="POST"
        )
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 202
        [message] = server.store.messages()
        assert message["Subject"] == "Halo" and message.get_content().strip() == "Isi pesan"
        assert server.store.texts() == [{"to": "+62811", "text": "Halo"}]
        with urllib.request.urlopen(server.url) as page:
            html = page.read().decode()
        assert "Halo" in html and "Received mail (1)" in html and "SMS / WhatsApp (1)" in html
        with urllib.request.urlopen(server.url + "messages.json") as listing:
            assert json.loads(listing.read())[0]["subject"] == "Halo"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("host", "addresses", "refused"),
    [
        ("sim.dinkes.balikpapan.go.id", ["103.10.20.30"], None),
        ("hooks.example.org", ["2001:4860:4860::8888"], None),
        ("localhost", [], "localhost is the service's own machine"),
        ("api.localhost", ["127.0.0.1"], "api.localhost is the service's own machine"),
        ("127.0.0.1", ["127.0.0.1"], "127.0.0.1 is a non-public address"),
        ("10.0.0.5", ["10.0.0.5"], "10.0.0.5 is a non-public address"),
        ("172.16.3.4", ["172.16.3.4"], "172.16.3.4 is a non-public address"),
        ("169.254.169.254", ["169.254.169.254"], "169.254.169.254 is a non-public address"),
        ("100.64.1.1", ["100.64.1.1"], "100.64.1.1 is a non-public address"),
        ("0.0.0.0", ["0.0.0.0"], "0.0.0.0 is a non-public address"),
        ("224.0.0.1", ["224.0.0.1"], "224.0.0.1 is a non-public address"),
        ("fd00::1", ["fd00::1"], "fd00::1 is a non-public address"),
        ("fe80::1", ["fe80::1%eth0"], "fe80::1 resolves to a non-public address"),
        # a name is judged by every address it resolves to, and the address is not shown
        (
            "intranet.example.org",
            ["103.10.20.30", "192.168.0.7"],
            "intranet.example.org resolves to a non-public address",
        ),
    ],
)
def test_webhook_destinations_must_be_public(host: str, addresses: list[str], refused: str | None) -> None:
    assert refused_destination(host, addresses) == refused


def test_literal_addresses_are_recognised_in_any_spelling_python_accepts() -> None:
    assert literal_address("[::1]") == "::1"
    assert literal_address("::ffff:127.0.0.1") == "::ffff:7f00:1"
    assert literal_address("127.0.0.1") == "127.0.0.1"
    assert literal_address("sim.dinkes.balikpapan.go.id") is None
    assert refused_destination("::ffff:127.0.0.1", [literal_address("::ffff:127.0.0.1") or ""]) is not None


def test_the_indonesian_ineligibility_message_gives_its_reasons_in_indonesian() -> None:
    """Issue 14, item 4: the reasons come from the event's Indonesian text (`fact_id`); a reason
    from an older event without it is named by its rule, still in Indonesian."""
    event = {
        "period": "2026-12",
        "eligible": False,
        "amount": 0,
        "reasons": [
            {"rule": "cadre_active", "passed": True, "fact": "cadre is active", "fact_id": "kader aktif"},
            {
                "rule": "certificate_valid",
                "passed": False,
                "fact": "certificate SKD/6471/2026/PURWA/000001 (Purwa) revoked on 2026-12-06",
                "fact_id": "sertifikat SKD/6471/2026/PURWA/000001 (Purwa) dicabut pada 2026-12-06",
            },
            {"rule": "posyandu_verified", "passed": False, "fact": "Posyandu is not verified", "fact_id": None},
        ],
    }
    ctx = {"event": event, "cadre_name": "Siti Aminah", "signature": "SIKADER", "unsubscribe_url": None}
    mail = Templates().render("eligibility_changed", "id", ctx)
    assert "Syarat yang belum terpenuhi:" in mail.body
    assert "- sertifikat SKD/6471/2026/PURWA/000001 (Purwa) dicabut pada 2026-12-06" in mail.body
    assert "- Posyandu sudah terverifikasi" in mail.body
    for english in ("certificate", "revoked", "is not verified", "cadre is active"):
        assert english not in mail.body, english
