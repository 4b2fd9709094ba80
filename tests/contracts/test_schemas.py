"""The checked-in JSON Schemas: up to date with the models, compatible with the released
baseline; and the compatibility checker itself."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from sikader_shared import schema_export
from sikader_shared.events import EVENT_MODELS, CadreCertified
from sikader_shared.schema_compat import incompatibilities, is_compatible

SCHEMA_DIR = schema_export.SCHEMA_DIR
RELEASED_DIR = SCHEMA_DIR / schema_export.RELEASED_DIRNAME


# ----------------------------------------------------------------------------- export


def test_checked_in_schemas_are_up_to_date(tmp_path: Path) -> None:
    """Fails when a model changed without `python -m sikader_shared.schema_export`."""
    schema_export.export(tmp_path)
    fresh = sorted(p.name for p in tmp_path.glob("*.json"))
    checked_in = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
    assert fresh == checked_in, "run `python -m sikader_shared.schema_export`"
    for name in fresh:
        assert (SCHEMA_DIR / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"{name} is stale: run `python -m sikader_shared.schema_export`"
        )
    assert schema_export.check(SCHEMA_DIR) == []


def test_one_schema_file_per_event_type_and_major_version() -> None:
    names = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert names == {f"{ce_type}.json" for ce_type in EVENT_MODELS}
    assert "sikader.certification.CadreCertified.v1.json" in names
    assert "sikader.registry.PosyanduFacilityVerified.v1.json" in names


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_schema_file_metadata(ce_type: str) -> None:
    model = EVENT_MODELS[ce_type]
    text = (SCHEMA_DIR / f"{ce_type}.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert text.endswith("}\n")
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["$id"] == f"urn:sikader:schema:{ce_type}"
    assert schema["title"] == ce_type
    assert schema["type"] == "object"
    meta = schema["x-sikader"]
    assert meta["ce_type"] == ce_type
    assert meta["topic"] == model.topic
    assert meta["aggregate_field"] == model.aggregate_field
    assert meta["aggregate_field"] in schema["required"]
    assert meta["ce_source"] == f"sikader/{model.service}"
    assert meta["version"] == model.version == int(ce_type.rsplit(".v", 1)[1])
    assert meta["restricted"] == (model.topic == "sikader.registry.cadre-private.v1")


def test_export_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    schema_export.export(first)
    schema_export.export(second)
    for path in first.glob("*.json"):
        assert path.read_bytes() == (second / path.name).read_bytes()
    assert schema_export.export(first) == []  # nothing to rewrite


def test_check_reports_changed_missing_and_extra_files(tmp_path: Path) -> None:
    schema_export.export(tmp_path)
    assert schema_export.check(tmp_path) == []
    changed = tmp_path / "sikader.certification.CadreCertified.v1.json"
    changed.write_text(changed.read_text(encoding="utf-8").replace("Holder", "Owner"))
    (tmp_path / "sikader.incentives.IncentivePeriodClosed.v1.json").unlink()
    (tmp_path / "sikader.registry.Stale.v1.json").write_text("{}\n")
    assert schema_export.check(tmp_path) == [
        "differs: sikader.certification.CadreCertified.v1.json",
        "missing: sikader.incentives.IncentivePeriodClosed.v1.json",
        "extra: sikader.registry.Stale.v1.json",
    ]
    assert schema_export.main(["--check", "--dir", str(tmp_path)]) == 1
    assert schema_export.main(["--dir", str(tmp_path)]) == 0  # rewrites and removes
    assert schema_export.check(tmp_path) == []
    assert schema_export.main(["--check", "--dir", str(tmp_path)]) == 0


def test_check_notices_a_model_changed_without_re_export(monkeypatch: pytest.MonkeyPatch) -> None:
    class ChangedCadreCertified(CadreCertified):
        event_name = "CadreCertified"
        new_field: str | None = None

    ce_type = CadreCertified.ce_type()
    monkeypatch.setitem(EVENT_MODELS, ce_type, ChangedCadreCertified)
    assert schema_export.check(SCHEMA_DIR) == [f"differs: {ce_type}.json"]


def test_release_copies_and_refuses_incompatible_changes(tmp_path: Path) -> None:
    current, released = tmp_path / "schemas", tmp_path / "schemas" / "released"
    schema_export.export(current)
    copied = schema_export.release(current)
    assert sorted(copied) == sorted(p.name for p in current.glob("*.json"))
    assert schema_export.release(current) == []  # idempotent
    name = "sikader.certification.CadreCertified.v1.json"
    schema = json.loads((current / name).read_text(encoding="utf-8"))
    del schema["properties"]["cadre_name"]
    (current / name).write_text(schema_export.render(schema))
    with pytest.raises(ValueError, match="cadre_name"):
        schema_export.release(current)
    assert "cadre_name" in (released / name).read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- baseline


def test_released_baseline_exists() -> None:
    released = {p.name for p in RELEASED_DIR.glob("*.json")}
    assert "sikader.certification.CadreCertified.v1.json" in released
    assert "sikader.registry.PosyanduFacilityVerified.v1.json" in released


@pytest.mark.parametrize("name", sorted(p.name for p in RELEASED_DIR.glob("*.json")))
def test_current_schema_is_compatible_with_released(name: str) -> None:
    current = SCHEMA_DIR / name
    assert current.exists(), f"released event type {name} was removed; publish a new major"
    old = json.loads((RELEASED_DIR / name).read_text(encoding="utf-8"))
    new = json.loads(current.read_text(encoding="utf-8"))
    assert incompatibilities(old, new) == []


def test_no_incompatibility_with_released_baseline_overall() -> None:
    assert schema_export.compare_with_released() == []


# ----------------------------------------------------------------------------- schema_compat


class Reason(BaseModel):
    rule: str
    passed: bool
    sources: list[str] = []


class Base(BaseModel):
    cadre_id: str
    level: Literal["Purwa", "Madya", "Utama"]
    issued_on: date
    name: str = Field(max_length=100)
    amount: int = Field(ge=0)
    note: str | None = None
    reasons: list[Reason] = []
    tags: list[str] = []


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


BASE = _schema(Base)


def _variant(**fields: Any) -> dict[str, Any]:
    """The JSON Schema of a model named like Base with `fields` (name -> (type, default))."""
    from pydantic import create_model

    definitions: dict[str, Any] = {
        "cadre_id": (str, ...),
        "level": (Literal["Purwa", "Madya", "Utama"], ...),
        "issued_on": (date, ...),
        "name": (str, Field(max_length=100)),
        "amount": (int, Field(ge=0)),
        "note": (str | None, None),
        "reasons": (list[Reason], []),
        "tags": (list[str], []),
    }
    for name, spec in fields.items():
        if spec is None:
            definitions.pop(name)
        else:
            definitions[name] = spec
    return _schema(create_model("Base", **definitions))


def test_variant_helper_reproduces_base() -> None:
    assert _variant() == BASE


def test_identical_schemas_are_compatible() -> None:
    assert incompatibilities(BASE, copy.deepcopy(BASE)) == []
    real = schema_export.schema_for(CadreCertified)
    assert incompatibilities(real, copy.deepcopy(real)) == []


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        pytest.param(_variant(note=None), "$.note: property removed", id="removed property"),
        pytest.param(_variant(cadre_id=(int, ...)), "$.cadre_id: changed type string -> integer", id="type"),
        pytest.param(
            _variant(issued_on=(datetime, ...)),
            "$.issued_on: changed type string(date) -> string(date-time)",
            id="format",
        ),
        pytest.param(_variant(note=(str | None, ...)), "$.note: property became required", id="required"),
        pytest.param(_variant(extra=(str, ...)), "$.extra: new required property", id="new required"),
        pytest.param(
            _variant(level=(Literal["Purwa", "Madya"], ...)),
            "$.level: removed enum value(s) 'Utama'",
            id="removed enum value",
        ),
        pytest.param(
            _variant(level=(str, ...)),
            None,  # widening an enum to any string is compatible
            id="enum widened to str",
        ),
        pytest.param(
            _variant(name=(str, Field(max_length=50))),
            "$.name: narrowed maxLength 100 -> 50",
            id="narrowed maxLength",
        ),
        pytest.param(
            _variant(amount=(int, Field(ge=1))),
            "$.amount: narrowed minimum 0 -> 1",
            id="narrowed minimum",
        ),
        pytest.param(
            _variant(amount=(int, Field(ge=0, le=10_000_000))),
            "$.amount: narrowed maximum None -> 10000000",
            id="new maximum",
        ),
        pytest.param(
            _variant(cadre_id=(str, Field(pattern=r"^[0-9a-f-]{36}$"))),
            "$.cadre_id: new pattern '^[0-9a-f-]{36}$'",
            id="new pattern",
        ),
        pytest.param(
            _variant(tags=(list[str], Field(default=[], min_length=1))),
            "$.tags: narrowed minItems None -> 1",
            id="narrowed minItems",
        ),
        pytest.param(
            _variant(note=(str, "")),
            "$.note: changed type null|string -> string",
            id="nullable removed",
        ),
        pytest.param(
            _variant(cadre_id=(str | None, ...)),
            "$.cadre_id: changed type string -> null|string",
            id="nullable added",
        ),
        pytest.param(
            _variant(tags=(list[int], [])),
            "$.tags[]: changed type string -> integer",
            id="array item type",
        ),
        pytest.param(
            _variant(note=(str | None, "n/a")),
            "$.note: changed default None -> 'n/a'",
            id="changed default",
        ),
    ],
)
def test_compat_top_level_changes(new: dict[str, Any], expected: str | None) -> None:
    problems = incompatibilities(BASE, new)
    if expected is None:
        assert problems == []
    else:
        assert expected in problems, problems


def test_compat_nested_model_in_defs_and_array() -> None:
    class ReasonRemoved(BaseModel):
        rule: str
        sources: list[str] = []

    class ReasonRetyped(BaseModel):
        rule: str
        passed: str
        sources: list[str] = []

    class ReasonSources(BaseModel):
        rule: str
        passed: bool
        sources: list[str] = Field(default=[], max_length=3)

    removed = _variant(reasons=(list[ReasonRemoved], []))
    assert incompatibilities(BASE, removed) == ["$.reasons[].passed: property removed"]
    retyped = _variant(reasons=(list[ReasonRetyped], []))
    assert incompatibilities(BASE, retyped) == ["$.reasons[].passed: changed type boolean -> string"]
    narrowed = _variant(reasons=(list[ReasonSources], []))
    assert incompatibilities(BASE, narrowed) == ["$.reasons[].sources: narrowed maxItems None -> 3"]


def test_compat_follows_refs_in_optional_nested_objects() -> None:
    class Inner(BaseModel):
        code: str
        kind: Literal["a", "b"]

    class InnerNarrow(BaseModel):
        code: str
        kind: Literal["a"]

    class Outer(BaseModel):
        inner: Inner | None = None

    class OuterNarrow(BaseModel):
        inner: InnerNarrow | None = None

    old, new = _schema(Outer), _schema(OuterNarrow)
    assert incompatibilities(old, new) == ["$.inner.kind: removed enum value(s) 'b'"]


def test_compat_on_raw_dicts_defs_and_additional_properties() -> None:
    old: dict[str, Any] = {
        "type": "object",
        "properties": {
            "x": {"$ref": "#/$defs/X"},
            "m": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        "$defs": {"X": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    new = copy.deepcopy(old)
    new["$defs"]["X"]["properties"]["a"] = {"type": "string", "minLength": 3}
    assert incompatibilities(old, new) == ["$.x.a: narrowed minLength None -> 3"]
    new = copy.deepcopy(old)
    new["$defs"]["X"]["additionalProperties"] = False
    assert incompatibilities(old, new) == ["$.x: additional properties no longer allowed"]
    new = copy.deepcopy(old)
    new["properties"]["m"]["additionalProperties"] = {"type": "string"}
    assert incompatibilities(old, new) == ["$.m.*: changed type integer -> string"]
    new = copy.deepcopy(old)
    new["properties"]["m"]["additionalProperties"] = {"type": "integer", "multipleOf": 5}
    assert incompatibilities(old, new) == ["$.m.*: changed multipleOf None -> 5"]


def test_compat_recursive_models_terminate() -> None:
    class Node(BaseModel):
        label: str
        children: list[Node] = []

    class NodeNarrow(BaseModel):
        label: str = Field(max_length=5)
        children: list[NodeNarrow] = []

    assert incompatibilities(_schema(Node), _schema(Node)) == []
    problems = incompatibilities(_schema(Node), _schema(NodeNarrow))
    assert "$.label: narrowed maxLength None -> 5" in problems


def test_compat_metadata_topic_and_aggregate_are_part_of_the_contract() -> None:
    old = schema_export.schema_for(CadreCertified)
    new = copy.deepcopy(old)
    new["x-sikader"]["topic"] = "sikader.certification.v2"
    new["x-sikader"]["aggregate_field"] = "certificate_id"
    problems = incompatibilities(old, new)
    assert any("changed topic" in p for p in problems)
    assert any("changed aggregate_field" in p for p in problems)


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(_variant(extra=(str | None, None)), id="optional property added"),
        pytest.param(
            _variant(level=(Literal["Purwa", "Madya", "Utama", "Paripurna"], ...)),
            id="enum value added",
        ),
        pytest.param(_variant(name=(str, Field(max_length=200))), id="maxLength widened"),
        pytest.param(_variant(name=(str, ...)), id="maxLength dropped"),
        pytest.param(_variant(amount=(int, Field(ge=-5))), id="minimum lowered"),
        pytest.param(
            _variant(note=(str | None, Field(default=None, description="New text"))),
            id="description changed",
        ),
    ],
)
def test_compat_compatible_changes_pass(new: dict[str, Any]) -> None:
    assert incompatibilities(BASE, new) == []
    assert is_compatible(BASE, new)


def test_compat_real_event_changes() -> None:
    old = schema_export.schema_for(CadreCertified)

    class WithOptional(CadreCertified):
        event_name = "CadreCertified"
        printed_at: datetime | None = None

    assert incompatibilities(old, schema_export.schema_for(WithOptional)) == []
    new = copy.deepcopy(old)
    del new["properties"]["issuer"]
    new["required"].remove("issuer")
    assert incompatibilities(old, new) == ["$.issuer: property removed"]


def test_released_copy_is_untouched_by_tests(tmp_path: Path) -> None:
    """Guards the baseline: the export helpers write only where they are told."""
    before = {p.name: p.read_bytes() for p in RELEASED_DIR.glob("*.json")}
    shutil.copytree(SCHEMA_DIR, tmp_path / "copy")
    schema_export.export(tmp_path / "copy")
    after = {p.name: p.read_bytes() for p in RELEASED_DIR.glob("*.json")}
    assert before == after
