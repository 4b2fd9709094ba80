"""Certification rules without a database or broker."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from certification.adapters.printing import PrintableCertificate, certificate_html, certificate_pdf, qr_matrix, qr_svg
from certification.config import CertificationConfig
from certification.domain.assessments import decide_assessment
from certification.domain.catalogue import Catalogue, load_catalogue
from certification.domain.certificates import (
    CurrentCertificate,
    certificate_number,
    decide_after_assessment,
    expiry_action,
    expiry_date,
    expiry_event,
    local_date,
    mask_name,
    renewed_expiry,
    restoration_event,
    status_on_restore,
    verification_status,
)
from certification.domain.levels import LevelPolicy, load_level_policy, rank
from certification.domain.projection import is_newer, status_change
from certification.settings import CertificationSettings
from sikader_shared.events import CertificateExpired, CertificateExpiring, CertificateRenewed

CATALOGUE = load_catalogue("v1")
POLICY = load_level_policy()


def groups(*codes: str) -> set[str]:
    return {s for c in codes for s in CATALOGUE.group(c).skill_codes}


def test_catalogue_has_five_groups_of_five_skills_with_indonesian_names() -> None:
    assert [g.code for g in CATALOGUE.groups] == ["1", "2", "3", "4", "5"]
    assert [g.name for g in CATALOGUE.groups] == [
        "Pengelolaan Posyandu",
        "Bayi dan balita",
        "Ibu hamil dan menyusui",
        "Usia sekolah dan remaja",
        "Usia produktif dan lansia",
    ]
    assert all(len(g.skill_codes) == 5 for g in CATALOGUE.groups)
    assert len(CATALOGUE.skills) == 25
    assert CATALOGUE.skills["1.4"].name == "Melakukan kunjungan rumah"
    assert "Kemenkes" in CATALOGUE.source and "diperiksa" in CATALOGUE.source
    assert CATALOGUE.unknown(["1.1", "9.9"]) == ["9.9"]


def test_catalogue_refuses_duplicate_codes() -> None:
    data = {"version": "x", "groups": [{"code": "1", "name": "A", "skills": [{"code": "1.1", "name": "a"}] * 2}]}
    with pytest.raises(ValueError, match="duplicate skill code"):
        Catalogue.from_dict(data)


@pytest.mark.parametrize(
    ("complete", "level"),
    [
        ((), None),
        (("1", "2"), None),  # Purwa needs a third group
        (("1", "3", "4"), None),  # ... and always management + infants/toddlers
        (("1", "2", "3"), "Purwa"),
        (("1", "2", "5"), "Purwa"),
        (("1", "2", "3", "4"), "Madya"),
        (("1", "3", "4", "5"), None),
        (("1", "2", "3", "4", "5"), "Utama"),
    ],
)
def test_default_level_policy(complete: tuple[str, ...], level: str | None) -> None:
    assert POLICY.level_for(CATALOGUE, groups(*complete)) == level


def test_an_incomplete_group_does_not_count() -> None:
    badges = groups("1", "2") | (groups("3") - {"3.5"})
    assert CATALOGUE.complete_groups(badges) == {"1", "2"}
    assert POLICY.level_for(CATALOGUE, badges) is None


def test_level_policy_is_configurable_data() -> None:
    lenient = LevelPolicy.model_validate(
        {"version": "test", "levels": [{"level": "Purwa", "required_groups": ["1"], "min_complete_groups": 1}]}
    )
    assert lenient.level_for(CATALOGUE, groups("1")) == "Purwa"
    with pytest.raises(ValueError, match="unknown groups"):
        LevelPolicy.model_validate(
            {"version": "bad", "levels": [{"level": "Purwa", "required_groups": ["9"], "min_complete_groups": 1}]}
        ).check_against(CATALOGUE)
    with pytest.raises(ValueError, match="twice"):
        LevelPolicy.model_validate(
            {
                "version": "bad",
                "levels": [
                    {"level": "Purwa", "required_groups": [], "min_complete_groups": 1},
                    {"level": "Purwa", "required_groups": [], "min_complete_groups": 2},
                ],
            }
        )
    settings = CertificationSettings(
        level_policy={"version": "p2", "levels": [{"level": "Utama", "required_groups": [], "min_complete_groups": 2}]},
        certificate_validity_years=5,
    )
    config = CertificationConfig.from_settings(settings)
    assert config.policy.version == "p2" and config.validity_years == 5
    assert config.policy.level_for(CATALOGUE, groups("4", "5")) == "Utama"


def test_numbers_and_dates() -> None:
    assert certificate_number("6471", 2026, "Madya", 123) == "SKD/6471/2026/MADYA/000123"
    assert expiry_date(date(2026, 11, 20), 3) == date(2029, 11, 20)
    assert expiry_date(date(2028, 2, 29), 3) == date(2031, 2, 28)
    # 23:30 UTC on 30 Nov is already 1 Dec in Balikpapan (WITA, UTC+8).
    assert local_date(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == date(2026, 12, 1)
    assert renewed_expiry(date(2027, 1, 1), date(2026, 12, 1), 3) == date(2029, 12, 1)
    assert renewed_expiry(date(2031, 1, 1), date(2026, 12, 1), 3) == date(2031, 1, 1)  # never shortened


def test_what_an_assessment_does_to_the_certificate() -> None:
    valid_purwa = CurrentCertificate(level="Purwa", status="valid", expires_on=date(2029, 1, 1))
    assert decide_after_assessment(None, None, True) == "none"
    assert decide_after_assessment(None, "Purwa", True) == "issue"
    assert decide_after_assessment(None, "Purwa", False) == "none"  # a failed-only assessment
    assert decide_after_assessment(valid_purwa, "Madya", True) == "issue"
    assert decide_after_assessment(valid_purwa, "Purwa", True) == "renew"
    expired = CurrentCertificate(level="Purwa", status="expired", expires_on=date(2026, 1, 1))
    assert decide_after_assessment(expired, "Purwa", True) == "renew"
    suspended = CurrentCertificate(level="Purwa", status="suspended", expires_on=date(2029, 1, 1))
    assert decide_after_assessment(suspended, "Purwa", True) == "none"
    assert rank(None) < rank("Purwa") < rank("Madya") < rank("Utama")


def test_expiry_schedule() -> None:
    exp = date(2029, 11, 20)
    assert expiry_action("valid", exp, None, date(2029, 10, 20), 30) is None  # 31 days ahead
    assert expiry_action("valid", exp, None, date(2029, 10, 21), 30) == "announce"
    assert expiry_action("valid", exp, exp, date(2029, 11, 1), 30) is None  # announced once
    assert expiry_action("valid", exp, date(2026, 1, 1), date(2029, 11, 1), 30) == "announce"  # renewed: re-armed
    assert expiry_action("valid", exp, exp, exp, 30) == "expire"
    assert expiry_action("suspended", exp, None, exp, 30) is None
    assert status_on_restore(exp, date(2029, 11, 19)) == "valid"
    assert status_on_restore(exp, exp) == "expired"


def test_public_status_and_masked_name() -> None:
    assert verification_status(None, None, date(2026, 1, 1)) == "unknown"
    assert verification_status("valid", date(2026, 1, 1), date(2025, 12, 31)) == "valid"
    assert verification_status("valid", date(2026, 1, 1), date(2026, 1, 1)) == "expired"
    assert verification_status("revoked", date(2029, 1, 1), date(2026, 1, 1)) == "revoked"
    assert mask_name("Siti Aminah") == "Siti A***h"
    assert mask_name("Siti Nur Aminah") == "Siti N***r A***h"
    assert mask_name("Suparmi") == "S***i"
    assert mask_name("Ni Lu") == "Ni L***"
    assert mask_name("  ") == ""


def test_projection_rules() -> None:
    t1 = datetime(2026, 11, 1, tzinfo=UTC)
    t2 = datetime(2026, 11, 2, tzinfo=UTC)
    assert is_newer(None, t1) and is_newer(t1, t2) and is_newer(t1, t1) and not is_newer(t2, t1)
    assert status_change("active", "inactive") == "deactivated"
    assert status_change("inactive", "active") == "reactivated"
    assert status_change(None, "inactive") is None
    assert status_change("active", "active") is None


def test_printable_certificate_carries_number_and_qr_of_verify_url() -> None:
    url = "http://127.0.0.1:8002/certificates/SKD/6471/2026/MADYA/000007/verify"
    printable = PrintableCertificate(
        number="SKD/6471/2026/MADYA/000007",
        holder_name="Siti Aminah",
        level="Madya",
        status="valid",
        issued_on=date(2026, 11, 20),
        expires_on=date(2029, 11, 20),
        issuer="Dinas Kesehatan Kota Balikpapan",
        skills=[("1.1", CATALOGUE.skills["1.1"].name)],
        verify_url=url,
    )
    pdf = certificate_pdf(printable)
    assert pdf.startswith(b"%PDF")
    assert b"SKD/6471/2026/MADYA/000007" in pdf and url.encode() in pdf  # the QR's link annotation
    page = certificate_html(printable)
    assert qr_svg(url) in page and "20 November 2029" in page and "Siti Aminah" in page
    import segno

    assert qr_matrix(url) == [[bool(c) for c in row] for row in segno.make_qr(url, error="m", boost_error=False).matrix]
    assert qr_matrix(url) != qr_matrix(url.replace("000007", "000008"))


def test_an_assessment_decides_badges_level_and_certificate_action() -> None:
    first = decide_assessment(CATALOGUE, POLICY, groups("1", "2"), sorted(groups("3")), None)
    assert (first.level, first.action, first.complete_groups) == ("Purwa", "issue", ["1", "2", "3"])
    assert first.badges == sorted(groups("1", "2", "3"))
    current = CurrentCertificate(level="Purwa", status="valid", expires_on=date(2029, 1, 1))
    again = decide_assessment(CATALOGUE, POLICY, groups("1", "2", "3"), ["1.1"], current)
    assert (again.level, again.action) == ("Purwa", "renew")
    failed = decide_assessment(CATALOGUE, POLICY, groups("1", "2", "3"), [], current)
    assert failed.action == "none"


class _Cert:
    cadre_id, certificate_id, number, level = "c1", "k1", "SKD/6471/2026/PURWA/000001", "Purwa"

    def __init__(self, status: str, expires_on: date) -> None:
        self.status, self.expires_on = status, expires_on


class _Holder:
    kelurahan_code, kecamatan_code = "64.71.02.1001", "64.71.02"


def test_restoration_and_expiry_events_carry_the_certificate_state() -> None:
    today = date(2026, 11, 20)
    restored = restoration_event(_Cert("valid", date(2029, 1, 1)), _Holder(), today)
    assert isinstance(restored, CertificateRenewed) and restored.basis == "reactivation"
    assert restored.kecamatan_code == "64.71.02" and restored.renewed_on == today
    lapsed = restoration_event(_Cert("expired", date(2026, 11, 1)), _Holder(), today)
    assert isinstance(lapsed, CertificateExpired) and lapsed.expired_on == date(2026, 11, 1)
    notice = expiry_event("announce", _Cert("valid", date(2026, 12, 20)), _Holder(), today)
    assert isinstance(notice, CertificateExpiring) and notice.days_left == 30
    assert isinstance(expiry_event("expire", _Cert("expired", today), _Holder(), today), CertificateExpired)
