"""Registry handlers, the cadre aggregate: registration (encrypted private events), changes,
assignment and transfer, deactivation and reactivation. Rows, outbox events and audit."""

from __future__ import annotations

import pytest

from registry.adapters.tables import AssignmentRow, CadreRow
from registry.domain.commands import CadreAssign, CadreStatusChange, CadreUpdate
from registry.handlers import assignments, cadres, posyandu
from sikader_shared.errors import Conflict, Invalid, Unavailable
from sikader_shared.events import (
    CadreAssigned,
    CadreContactChanged,
    CadreDeactivated,
    CadrePaymentDetailsChanged,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
)
from sikader_shared.testing.handlers import HandlerHarness
from tests.registry.handler_support import PII, WRITER, cadre_cmd, config, posyandu_cmd

CFG = config()
CONTACT_AND_PAYMENT = {
    "phone": "0812-3456-7890",
    "address": "Jl. Mulawarman RT 012",
    "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "0012345678"},
}


async def _posyandu(db: HandlerHarness, name: str = "Posyandu Melati") -> str:
    async with db.uow(WRITER) as uow:
        row = await posyandu.register_posyandu(uow, CFG, posyandu_cmd(name))
        await uow.commit()
    await db.new_events()
    return row.id


async def test_registration_publishes_the_public_and_the_encrypted_private_events(registry_db: HandlerHarness) -> None:
    pid = await _posyandu(registry_db)
    async with registry_db.uow(WRITER) as uow:
        cmd = cadre_cmd(1, posyandu_id=pid, kelurahan_code=None, posyandu_role="ketua", **CONTACT_AND_PAYMENT)
        row = await cadres.register_cadre(uow, CFG, cmd)
        await uow.commit()
    registered, contact, payment = await registry_db.new_events()
    assert isinstance(registered, CadreRegistered) and registered.posyandu_role == "ketua"
    assert isinstance(contact, CadreContactChanged) and isinstance(payment, CadrePaymentDetailsChanged)
    assert CFG.cipher("contact").decrypt(contact.phone_enc) == "+6281234567890"
    assert CFG.cipher("payment").decrypt(payment.account_holder_enc) == "Siti Aminah"
    assert "0812" not in contact.model_dump_json() and "0012345678" not in payment.model_dump_json()
    [stored] = await registry_db.rows(CadreRow, id=row.id)
    assert stored.nik == cmd.nik and stored.nik_hash != cmd.nik
    [first] = await registry_db.rows(AssignmentRow, cadre_id=row.id)
    assert (first.posyandu_id, first.reason, first.end_on) == (pid, "registration", None)
    [audit] = await registry_db.audit("cadre", row.id)
    assert audit["action"] == "cadre.register" and cmd.nik not in str(audit["after"])


async def test_a_registered_nik_is_refused_and_only_a_pii_key_learns_which_cadre_holds_it(
    registry_db: HandlerHarness,
) -> None:
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Conflict) as plain:
            await cadres.register_cadre(uow, CFG, cadre_cmd(1, name="Someone Else"))
    async with registry_db.uow(PII) as uow:
        with pytest.raises(Conflict) as pii:
            await cadres.register_cadre(uow, CFG, cadre_cmd(1))
    assert "existing_cadre_id" not in plain.value.details and pii.value.details["existing_cadre_id"] == siti.id
    assert await registry_db.new_events() == [] and len(await registry_db.rows(CadreRow)) == 1


async def test_without_the_contact_key_contact_details_are_refused_with_503_and_nothing_is_written(
    registry_db: HandlerHarness,
) -> None:
    no_contact = config(contact_key="")
    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Unavailable, match="SIKADER_CONTACT_KEY"):
            await cadres.register_cadre(uow, no_contact, cadre_cmd(1, phone="0812-3456-7890"))
    assert await registry_db.rows(CadreRow) == [] and await registry_db.events() == []
    async with registry_db.uow(WRITER) as uow:  # a cadre without contact details needs no key
        await cadres.register_cadre(uow, no_contact, cadre_cmd(2))
        await uow.commit()
    [registered] = await registry_db.new_events()
    assert isinstance(registered, CadreRegistered)


async def test_an_update_publishes_per_kind_and_audits_which_personal_fields_changed(
    registry_db: HandlerHarness,
) -> None:
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        cmd = CadreUpdate.model_validate({"name": "Siti Aminah Rahman", "phone": "0813-1111-2222"})
        await cadres.update_cadre(uow, CFG, siti.id, cmd)
        await uow.commit()
    updated, contact = await registry_db.new_events()
    assert isinstance(updated, CadreUpdated) and updated.changed == ["name"]
    assert (
        isinstance(contact, CadreContactChanged)
        and CFG.cipher("contact").decrypt(contact.phone_enc) == "+6281311112222"
    )
    [_, audit] = await registry_db.audit("cadre", siti.id)
    assert audit["after"]["personal_data_changed"] == ["phone"] and "0813" not in str(audit)

    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Invalid, match="nik cannot be removed"):
            await cadres.update_cadre(uow, CFG, siti.id, CadreUpdate.model_validate({"nik": None}))
    async with registry_db.uow(WRITER) as uow:  # nothing changed: nothing published
        await cadres.update_cadre(uow, CFG, siti.id, CadreUpdate.model_validate({"name": "Siti Aminah Rahman"}))
        await uow.commit()
    assert await registry_db.new_events() == []


async def test_a_transfer_closes_the_previous_assignment_and_a_second_to_the_same_is_refused(
    registry_db: HandlerHarness,
) -> None:
    melati, mawar = await _posyandu(registry_db), await _posyandu(registry_db, "Posyandu Mawar")
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1, posyandu_id=melati, kelurahan_code=None))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        await assignments.assign_cadre(uow, CFG, siti.id, CadreAssign.model_validate({"posyandu_id": mawar}))
        await uow.commit()
    [assigned] = await registry_db.new_events()
    assert isinstance(assigned, CadreAssigned)
    assert (assigned.previous_posyandu_id, assigned.posyandu_id, assigned.reason) == (melati, mawar, "transfer")
    history = sorted(await registry_db.rows(AssignmentRow, cadre_id=siti.id), key=lambda a: a.id)
    assert [(a.posyandu_id, a.end_reason) for a in history] == [(melati, "transfer"), (mawar, None)]

    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Conflict, match="already assigned"):
            await assignments.assign_cadre(uow, CFG, siti.id, CadreAssign.model_validate({"posyandu_id": mawar}))
    async with registry_db.uow(WRITER) as uow:
        unknown = CadreAssign.model_validate({"posyandu_id": "00000000-0000-4000-8000-000000000000"})
        with pytest.raises(Invalid, match="no Posyandu"):
            await assignments.assign_cadre(uow, CFG, siti.id, unknown)
    assert await registry_db.new_events() == []


async def test_deactivation_needs_a_reason_and_reactivation_follows_it(registry_db: HandlerHarness) -> None:
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Invalid, match="needs a reason"):
            await cadres.deactivate_cadre(uow, CFG, siti.id, CadreStatusChange())
        with pytest.raises(Conflict, match="already active"):
            await cadres.reactivate_cadre(uow, CFG, siti.id, CadreStatusChange())
    async with registry_db.uow(WRITER) as uow:
        await cadres.deactivate_cadre(uow, CFG, siti.id, CadreStatusChange(reason="moved away"))
        await uow.commit()
    async with registry_db.uow(WRITER) as uow:
        await cadres.reactivate_cadre(uow, CFG, siti.id, CadreStatusChange(reason="back"))
        await uow.commit()
    deactivated, reactivated = await registry_db.new_events()
    assert isinstance(deactivated, CadreDeactivated) and deactivated.reason == "moved away"
    assert isinstance(reactivated, CadreReactivated)
    [row] = await registry_db.rows(CadreRow, id=siti.id)
    assert (row.status, row.status_reason) == ("active", "back")
    actions = [a["action"] for a in await registry_db.audit("cadre", siti.id)]
    assert actions == ["cadre.register", "cadre.deactivate", "cadre.reactivate"]
