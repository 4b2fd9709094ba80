"""The detectors the privacy scan relies on find what they must (so a clean scan means
something) and stay quiet on what a log or an event legitimately holds."""

from __future__ import annotations

import json
import uuid

from tests.privacy.scan import KnownValues, national_number, pattern_hits

CADRE = str(uuid.uuid4())


def known() -> KnownValues:
    k = KnownValues()
    k.add("nik", "6471065204910007", CADRE)
    k.add("phone", "+6281255550101", CADRE)
    k.add("email", "Rahmawati@Contoh.example", CADRE)
    k.add("address", "Jl. Mulawarman RT 012, Sepinggan", CADRE)
    k.add("account_number", "0012345678", CADRE)
    k.add("account_number", "081399887766", CADRE)  # an e-wallet: the phone number
    k.add("account_holder", "Muhammad Ridwan Hakim", CADRE)
    return k


def kinds(text: str) -> set[str]:
    return {h.value.kind for h in known().find(text, "t")}


def test_known_values_in_their_usual_forms() -> None:
    assert national_number("+62 812-5555-0101") == national_number("0812 5555 0101") == "81255550101"
    assert kinds("phone 0812-5555-0101") == {"phone"}
    assert kinds("phone 62 812 5555 0101") == {"phone"}
    assert kinds('{"to": "+6281255550101"}') == {"phone"}
    assert kinds("id=ID6471065204910007X") == {"nik"}  # digits inside a longer string
    assert kinds("nik 6471-0652-0491-0007") == {"nik"}
    assert kinds("to=rahmawati%40contoh.example") == {"email"}
    assert kinds("TO: RAHMAWATI@CONTOH.EXAMPLE") == {"email"}
    assert kinds("alamat Jl. Mulawarman RT 012 (rumah)") == {"address"}
    assert kinds("rekening 0012345678 ditutup") == {"account_number"}
    assert kinds("dana +62 813-9988-7766") == {"account_number"}
    assert kinds("a.n. muhammad ridwan hakim") == {"account_holder"}
    assert kinds(json.dumps({"cadre_id": CADRE, "nik": "6471********0007", "phone": "+62812****101"})) == set()


def test_patterns_catch_unlisted_values_and_spare_ordinary_text() -> None:
    leaky = "nik 6471015001900001, hp 0813-2222-3333, mail budi@contoh.example, Jl. Pupuk Raya No. 3"
    assert {h.split("looks like a ")[1].split(":")[0] for h in pattern_hits(leaky, "t")} == {
        "nik",
        "phone",
        "email",
        "address",
    }
    ordinary = json.dumps(
        {
            "ts": "2026-06-01T08:12:55.123456+00:00",
            "event_id": str(uuid.uuid4()),
            "cadre_id": "b1110182-0816-4302-9b3c-8986ce3c7478",
            "msg": "dead-lettered",
            "offset": 1234567890123,
            "nik": "6471********0001",
            "phone": "+62812****890",
            "kelurahan_code": "64.71.06.1002",
            "amount": 150000,
            "retry_in_s": 55.08110696713373,
            "ratio": 0.1234567890123456,
            "decision_hash": "0812345678" + "a" * 54,
            "other_hash": "b9698388674396678c7c47155774784b8f36716cf64a3855ab65f9ff3cb472da",
        }
    )
    assert pattern_hits(ordinary, "t") == []
