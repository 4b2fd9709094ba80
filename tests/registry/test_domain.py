"""Pure rules of the registry: NIK, phone numbers, masking, Posyandu names, verification,
closure, CSV files, wilayah data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from registry.adapters.wilayah_file import load_wilayah
from registry.config import RegistryConfig
from registry.domain import cadre as cadre_rules
from registry.domain.csvfiles import CsvFileError, parse_cadres, parse_posyandu
from registry.domain.errors import FieldError, RuleViolation
from registry.domain.identity import (
    check_nik,
    mask_account,
    mask_email,
    mask_nik,
    mask_phone,
    nik_hash,
    normalise_phone,
)
from registry.domain.posyandu import (
    VerificationState,
    VerifiedFacts,
    check_closure,
    check_decision,
    decide_verification,
    normalise_name,
)
from registry.domain.wilayah import WilayahError, parse_wilayah
from registry.settings import RegistrySettings
from sikader_shared.crypto import new_key
from sikader_shared.errors import Unavailable
from sikader_shared.events import PosyanduFacilityRejected, PosyanduFacilityVerified


def nik(birth: date, sex: str, region: str = "647101", serial: int = 1) -> str:
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


# --------------------------------------------------------------------------- NIK


def test_nik_accepts_a_woman_and_a_man_of_balikpapan() -> None:
    assert check_nik("6471015508900001", date(1990, 8, 15), "F", ["6471"]) == "6471015508900001"
    assert check_nik("6471031502850123", date(1985, 2, 15), "M", ["64.71"]) == "6471031502850123"


@pytest.mark.parametrize(
    ("value", "birth", "sex", "reason"),
    [
        ("647101550890001", date(1990, 8, 15), "F", "16 digits"),
        ("64710155089000a1", date(1990, 8, 15), "F", "16 digits"),
        ("6472015508900001", date(1990, 8, 15), "F", "region"),
        ("6471015508900001", date(1990, 8, 16), "F", "contradicts the stated birth date"),
        ("6471015508900001", date(1991, 8, 15), "F", "contradicts the stated birth date"),
        ("6471011508900001", date(1990, 8, 15), "F", "other sex"),
        ("6471015508900001", date(1990, 8, 15), "M", "other sex"),
        ("6471013513900001", date(1990, 8, 15), "M", "not a birth date"),
        ("6471011508900000", date(1990, 8, 15), "M", "serial"),
    ],
)
def test_nik_refusals_name_the_field_and_reason(value: str, birth: date, sex: str, reason: str) -> None:
    with pytest.raises(FieldError) as err:
        check_nik(value, birth, sex, ["6471"])  # type: ignore[arg-type]
    assert err.value.field == "nik" and reason in err.value.reason


def test_nik_from_any_region_when_no_prefix_is_configured() -> None:
    value = nik(date(2000, 1, 2), "M", region="317101")
    assert check_nik(value, date(2000, 1, 2), "M", []) == value


def test_nik_hash_depends_on_the_pepper() -> None:
    assert nik_hash("6471015508900001", "a") != nik_hash("6471015508900001", "b")
    assert len(nik_hash("6471015508900001", "a")) == 64


# --------------------------------------------------------------------------- phones and masking


@pytest.mark.parametrize(
    "raw",
    ["0812-3456-7890", "081234567890", "62812 3456 7890", "+62 812-3456-7890", "(0812) 3456.7890", "812345 67890"],
)
def test_phone_numbers_are_normalised_to_plus_62(raw: str) -> None:
    assert normalise_phone(raw) == "+6281234567890"


def test_landline_of_balikpapan() -> None:
    assert normalise_phone("(0542) 421234") == "+62542421234"


@pytest.mark.parametrize("raw", ["+1 415 555 0100", "0812", "08123456789012345", "0812-abc-7890", "00812345678"])
def test_bad_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(FieldError) as err:
        normalise_phone(raw)
    assert err.value.field == "phone"


def test_masks() -> None:
    assert mask_nik("6471015508900001") == "**************01"
    assert mask_phone("+62812234567890") == "+62**********90"
    assert mask_phone("+6281234567") == "+62******67"
    assert mask_email("siti@example.org") == "***@***"
    assert mask_account("0012345678") == "******5678"
    assert mask_account("12345") == "****5"  # a short number keeps four digits hidden
    assert mask_account("1234") == "****"


def test_what_a_masked_answer_shows_leaves_at_least_10000_candidates() -> None:
    """Issue 14, item 3: from a masked cadre (the NIK's last two digits, the kecamatan, the sex
    and the birth year, never the birth date), count the NIKs, phones and account numbers that
    fit; each must be 10,000 or more."""
    from datetime import date, timedelta

    nik = "6471015508900001"  # a woman born 15 Aug 1990 in kecamatan 64.71.01
    shown, kecamatan, sex, birth_year = mask_nik(nik), "647101", "F", 1990
    assert shown.count("*") == 14
    candidates = 0
    day = date(birth_year, 1, 1)
    while day.year == birth_year:  # every birth date in the year, as the NIK's digits 7-12 encode it
        dd = day.day + (40 if sex == "F" else 0)
        middle = f"{dd:02d}{day.month:02d}{birth_year % 100:02d}"
        prefix = kecamatan + middle
        candidates += sum(1 for serial in range(1, 10_000) if f"{prefix}{serial:04d}".endswith(shown[-2:]))
        day += timedelta(days=1)
    assert candidates >= 10_000, candidates
    for phone in ("+6281234567", "+62812345678", "+628123456789012"[:15]):
        hidden = mask_phone(phone).count("*")
        assert 10**hidden >= 10_000, (phone, mask_phone(phone))
    for account in ("12345", "0012345678", "1234567890123456"):
        assert 10 ** mask_account(account).count("*") >= 10_000, account


# --------------------------------------------------------------------------- Posyandu


def test_posyandu_names_are_compared_normalised() -> None:
    assert normalise_name("POSYANDU  Melati-1") == normalise_name("melati 1") == "melati 1"
    assert normalise_name("Posyandu Mawar Putih") == normalise_name("  mawar   putih ")
    assert normalise_name("Melati") != normalise_name("Melati II")


def _state(**kw: object) -> VerificationState:
    base: dict[str, object] = {
        "status": "active",
        "verification_status": "PENDING",
        "has_assessment": True,
        "has_sk": True,
    }
    base.update(kw)
    return VerificationState(**base)  # type: ignore[arg-type]


def test_verification_rules() -> None:
    check_decision(_state(), "VERIFIED", None)
    check_decision(_state(verification_status="REJECTED"), "VERIFIED", None)  # re-decided after a fix
    check_decision(_state(has_assessment=False, has_sk=False), "REJECTED", "no SK")
    with pytest.raises(FieldError):
        check_decision(_state(), "REJECTED", "  ")
    with pytest.raises(RuleViolation, match="new facility assessment"):
        check_decision(_state(verification_status="VERIFIED"), "VERIFIED", None)
    with pytest.raises(RuleViolation, match="assess the facility"):
        check_decision(_state(has_assessment=False), "VERIFIED", None)
    with pytest.raises(RuleViolation, match="SK"):
        check_decision(_state(has_sk=False), "VERIFIED", None)
    check_decision(_state(has_sk=False), "VERIFIED", None, requires_sk=False)
    with pytest.raises(RuleViolation, match="closed"):
        check_decision(_state(status="closed"), "VERIFIED", None)


def test_closure_rules() -> None:
    check_closure("a", "active", "closed", None, None)
    check_closure("a", "active", "merged", "b", "active")
    with pytest.raises(FieldError) as err:
        check_closure("a", "active", "merged", None, None)
    assert err.value.field == "merged_into_posyandu_id"
    with pytest.raises(FieldError, match="cannot be the Posyandu"):
        check_closure("a", "active", "merged", "a", "active")
    with pytest.raises(FieldError, match="no such"):
        check_closure("a", "active", "closed", "b", None)
    with pytest.raises(RuleViolation):
        check_closure("a", "active", "merged", "b", "closed")
    with pytest.raises(RuleViolation):
        check_closure("a", "merged", "closed", None, None)


def test_cadre_status_rules() -> None:
    cadre_rules.check_deactivation("active")
    cadre_rules.check_reactivation("inactive")
    with pytest.raises(RuleViolation):
        cadre_rules.check_deactivation("inactive")
    with pytest.raises(RuleViolation):
        cadre_rules.check_reactivation("active")
    with pytest.raises(RuleViolation, match="already assigned"):
        cadre_rules.check_assignment("active", "p1", "p1", "active")
    with pytest.raises(RuleViolation, match="inactive"):
        cadre_rules.check_assignment("inactive", None, "p1", "active")


# --------------------------------------------------------------------------- CSV


def test_cadre_csv_rows_become_commands_and_bad_rows_are_reported() -> None:
    good = nik(date(1990, 8, 15), "F")
    raw = (
        "\ufeffnik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,roles,payment_method,bank,account_number\n"
        f"{good},Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,Melati,posyandu_cadre;pkk,bank,BPD,0012345678\n"
        "123,Budi,L,1985-02-15,,64.71.06.1002,,,,,\n"
        f"{good},Ani,X,1990-08-15,0812,64.71.06.1002,,,,,\n"
        "too,few\n"
        "\n"
    ).encode()
    parsed = parse_cadres(raw, 1000)
    assert parsed.total == 4
    [row] = parsed.rows
    assert row.line == 2 and row.posyandu_name == "Melati"
    cmd = row.command
    assert (cmd.sex, cmd.phone, cmd.roles) == ("F", "+6281234567890", ["posyandu_cadre", "pkk"])
    assert cmd.payment is not None and cmd.payment.account_number == "0012345678"
    errors = {(e.line, e.field) for e in parsed.errors}
    assert (3, "nik") in errors and (4, "sex") in errors and (4, "phone") in errors and (5, "row") in errors


def test_semicolon_separated_csv_from_an_indonesian_spreadsheet() -> None:
    raw = f"nik;name;sex;birth_date;kelurahan_code\n{nik(date(1970, 1, 1), 'M')};Budi;L;1970-01-01;64.71.01.1001\n"
    parsed = parse_cadres(raw.encode(), 10)
    assert len(parsed.rows) == 1 and parsed.rows[0].command.sex == "M"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00n\x00i", "UTF-8"),
        (b"name,sex\nSiti,P\n", "documented columns"),
        (b"nik,name,sex,birth_date,shoe_size\n", "documented columns"),
        (b'nik,name,sex,birth_date\n"6471,unterminated\n', "well-formed"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
    ],
)
def test_a_file_that_is_not_a_csv_of_the_columns_is_refused_whole(raw: bytes, reason: str) -> None:
    with pytest.raises(CsvFileError) as err:
        parse_cadres(raw, 100)
    assert reason in err.value.reason


def test_header_errors_list_the_columns() -> None:
    with pytest.raises(CsvFileError) as err:
        parse_cadres(b"nik,name,sex,shoe_size\n", 100)
    assert err.value.details["missing_columns"] == ["birth_date"]
    assert err.value.details["unknown_columns"] == ["shoe_size"]


def test_too_many_rows_is_refused_whole() -> None:
    raw = "nik,name,sex,birth_date,kelurahan_code\n" + "x,y,P,1990-01-01,64.71.01.1001\n" * 5
    with pytest.raises(CsvFileError, match="more than 3 rows"):
        parse_cadres(raw.encode(), 3)


def test_posyandu_csv_with_assessment_columns() -> None:
    raw = (
        b"name,kelurahan_code,posyandu_type,rt,sk_number,sk_date,facility_status,equipment,assessed_by,assessed_on\n"
        b"Melati,64.71.06.1002,balita,012,188.4/12,2024-07-01,resident_house,dacin;kia_book,Puskesmas KI,2026-11-02\n"
        b"Mawar,64.71.06.1002,toddler,,,,,,,\n"
        b"Anggrek,64.71.06.1002,lansia,,,,garage,,,\n"
    )
    parsed = parse_posyandu(raw, 100)
    [row] = parsed.rows
    assert row.command.institution is not None and row.command.institution.sk_number == "188.4/12"
    assert row.assessment is not None and [e.item for e in row.assessment.equipment] == ["dacin", "kia_book"]
    fields = {(e.line, e.field) for e in parsed.errors}
    assert (3, "posyandu_type") in fields and (4, "facility_status") in fields


# --------------------------------------------------------------------------- wilayah


def test_balikpapan_has_6_kecamatan_and_34_kelurahan() -> None:
    w = load_wilayah("6471.json")
    assert w.region_code == "64.71" and w.nik_prefix == "6471"
    assert [k.code for k in w.kecamatan] == [f"64.71.0{i}" for i in range(1, 7)]
    assert len(w.all_kelurahan()) == 34
    assert {k.name for k in w.kecamatan} >= {"Balikpapan Selatan", "Balikpapan Kota"}
    kel = w.kelurahan("64.71.06.1002")
    assert kel is not None and kel.name == "Klandasan Ilir" and kel.kecamatan_code == "64.71.06"
    assert all(k.code.startswith(k.kecamatan_code + ".10") for k in w.all_kelurahan())


def test_another_city_is_another_data_file(tmp_path: Path) -> None:
    path = tmp_path / "6472.json"
    path.write_text(
        json.dumps(
            {
                "region_code": "64.72",
                "region_name": "Kota Samarinda",
                "kecamatan": [
                    {
                        "code": "64.72.01",
                        "name": "Palaran",
                        "kelurahan": [{"code": "64.72.01.1001", "name": "Rawa Makmur"}],
                    }
                ],
            }
        )
    )
    w = load_wilayah(str(path))
    assert w.nik_prefix == "6472" and w.kelurahan("64.72.01.1001") is not None


def test_contact_or_payment_details_are_refused_without_their_key() -> None:
    cfg = RegistryConfig.from_settings(RegistrySettings(contact_key="", payment_key=new_key()))
    with pytest.raises(Unavailable) as err:
        cfg.cipher("contact")
    assert err.value.status_code == 503 and "SIKADER_CONTACT_KEY" in err.value.message
    assert cfg.cipher("payment").key_id


def test_nik_region_is_configurable() -> None:
    assert RegistryConfig.from_settings(RegistrySettings()).nik_prefixes == ("6471",)
    assert RegistryConfig.from_settings(RegistrySettings(nik_region_prefixes=["*"])).nik_prefixes == ()
    assert RegistryConfig.from_settings(RegistrySettings(nik_region_prefixes=["6471", "6472"])).nik_prefixes == (
        "6471",
        "6472",
    )


def test_inconsistent_wilayah_file_is_refused() -> None:
    with pytest.raises(WilayahError, match="not under"):
        parse_wilayah({"region_code": "64.71", "kecamatan": [{"code": "64.72.01", "name": "X", "kelurahan": []}]})


def test_decisions_come_back_as_the_events_they_raise() -> None:
    place = cadre_rules.CadrePlace("c1", "64.71.06.1002", "64.71.06", "p1")
    on = date(2026, 10, 31)
    event = cadre_rules.deactivation("active", place, "moved away", on)
    assert (event.cadre_id, event.posyandu_id, event.reason, event.effective_on) == ("c1", "p1", "moved away", on)
    with pytest.raises(FieldError, match="needs a reason"):
        cadre_rules.deactivation("active", place, None, on)
    with pytest.raises(RuleViolation):
        cadre_rules.reactivation("active", place, None, on)
    assert cadre_rules.reactivation("inactive", place, None, on).effective_on == on

    state = VerificationState(status="active", verification_status="PENDING", has_assessment=True, has_sk=True)
    facts = VerifiedFacts("p1", "64.71.06.1002", "64.71.06", "Posyandu Melati", "a1", "resident_house")
    at = datetime(2026, 11, 5, 3, tzinfo=UTC)
    verified = decide_verification(state, facts, "VERIFIED", None, "on site", "dinkes", at)
    assert isinstance(verified, PosyanduFacilityVerified) and (verified.verified_by, verified.note) == (
        "dinkes",
        "on site",
    )
    rejected = decide_verification(state, facts, "REJECTED", "no scales", None, "dinkes", at)
    assert isinstance(rejected, PosyanduFacilityRejected) and rejected.assessment_id == "a1"
    with pytest.raises(FieldError, match="needs a reason"):
        decide_verification(state, facts, "REJECTED", " ", None, "dinkes", at)
