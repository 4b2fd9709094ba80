"""The delivery worker: attempts due deliveries, each recipient in its own lane so a slow
or dead subscriber delays nobody else, each aggregate's events in order per recipient.

One attempt: (1) claim the row in a short transaction (attempts + 1, a lease in
next_attempt_at, guarded by the attempts count seen, so two workers never send the same
attempt); (2) send outside any transaction; (3) record the outcome and emit
NotificationDelivered / NotificationFailed in one transaction. A crash between (2) and (3)
means the lease runs out and the message is attempted again: attempted at least once,
recorded as delivered at most once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import update
from sqlmodel import col, select

from notifications.adapters import repository as repo
from notifications.adapters.channels import DeliveryFailed, OutgoingMessage, Sender, build_senders
from notifications.adapters.tables import (
    BroadcastRow,
    CadreRow,
    DeliveryRow,
    PosyanduRow,
    ReceivedEventRow,
    SubscriptionRow,
)
from notifications.config import NotificationConfig
from notifications.domain.schedule import QUIET_CHANNELS, retry_delay
from notifications.domain.signing import redact
from notifications.domain.templates import TemplateError
from notifications.settings import NotificationsSettings
from sikader_shared.clock import utc
from sikader_shared.crypto import FieldCipherError
from sikader_shared.events import NotificationDelivered, NotificationFailed
from sikader_shared.service import ServiceRuntime
from sikader_shared.uow import UnitOfWork

log = logging.getLogger(__name__)

CE_EXTENSIONS = ("actor", "correlationid", "causationid")


class Skip(Exception):
    """Nothing to send, by design (unsubscribed, no address of that kind, deleted subscription)."""


class Undeliverable(Exception):
    """Cannot be sent now (contact details not received yet, template error): counts as a
    failed attempt; `permanent` gives up at once."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class DeliveryWorker:
    def __init__(
        self,
        runtime: ServiceRuntime,
        config: NotificationConfig | None = None,
        senders: dict[str, Sender] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = cast(NotificationsSettings, runtime.settings)
        self.config = config or NotificationConfig(self.settings)
        self.senders = senders or build_senders(self.settings)
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(self.settings.worker_concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self.lease = timedelta(
            seconds=max(self.settings.webhook_timeout_s, self.settings.smtp_timeout_s, self.settings.gateway_timeout_s)
            + 60
        )

    # -- loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.tick(wait=False)
                except Exception:
                    log.exception("delivery tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.worker_poll_s)
        finally:
            tasks = list(self._in_flight.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self, wait: bool = True) -> int:
        """Start a lane task for every recipient with a due delivery (skipping lanes still
        busy from an earlier tick); with `wait`, return once they are done. Returns the
        number of lanes started."""
        await self.complete_broadcasts()
        async with self.runtime.sessions() as session:
            heads = await repo.due_heads(session, self.runtime.clock.now(), self.settings.worker_batch)
        lanes = [lane for lane in dict.fromkeys(lane for _, lane in heads) if lane not in self._in_flight]
        tasks = []
        for lane in lanes:
            task = asyncio.create_task(self._lane(lane), name=f"lane:{lane}")
            self._in_flight[lane] = task
            task.add_done_callback(self._forget(lane))
            tasks.append(task)
        if wait and tasks:
            await asyncio.gather(*tasks)
        return len(lanes)

    async def drain(self) -> None:
        """Wait for every lane task still running (from ticks that did not wait)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    def _forget(self, lane: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(lane, None)

        return done

    async def _lane(self, lane: str) -> None:
        async with self._slots:
            while True:
                async with self.runtime.sessions() as session:
                    heads = await repo.due_heads(session, self.runtime.clock.now(), self.settings.worker_batch, lane)
                if not heads:
                    return
                progressed = False
                for delivery_id, _ in heads:
                    try:
                        progressed |= await self.attempt(delivery_id)
                    except Exception:
                        log.exception("delivery attempt crashed", extra={"delivery": delivery_id})
                if not progressed:
                    return

    async def complete_broadcasts(self) -> None:
        """A broadcast with nothing pending is done: keep its final tally."""
        async with self.runtime.uow() as uow:
            done = await repo.finished_broadcasts(uow.session)
            for broadcast in done:
                broadcast.tally = await repo.status_counts(uow.session, col(DeliveryRow.broadcast_id) == broadcast.id)
                broadcast.status, broadcast.completed_at = "completed", uow.clock.now()
                uow.session.add(broadcast)
            if done:
                await uow.commit()

    # -- one attempt ------------------------------------------------------------------------

    def _uow(self, correlation: str | None, cause: str | None) -> UnitOfWork:
        """Outcome events carry the source event's correlation id and name it as their cause."""
        return self.runtime.uow(correlation_id=correlation, causation_id=cause)

    async def attempt(self, delivery_id: int) -> bool:
        """Attempt one delivery if it is still due. True when its state moved on."""
        now = self.runtime.clock.now()
        message: OutgoingMessage | None = None
        problem: Undeliverable | None = None
        async with self.runtime.uow() as uow:
            row = await uow.session.get(DeliveryRow, delivery_id)
            if row is None or row.status != "pending" or utc(row.next_attempt_at) > now:
                return False
            if row.channel in QUIET_CHANNELS and self.config.quiet_hours.is_quiet(now):
                row.next_attempt_at = self.config.quiet_hours.next_allowed(now)
                uow.session.add(row)
                await uow.commit()
                return False
            try:
                message, correlation = await self._compose(uow, row)
            except Skip as skip:
                row.status, row.last_error = "skipped", str(skip)
                uow.session.add(row)
                await uow.commit()
                return True
            except Undeliverable as exc:
                problem, correlation = exc, None
            seen = row.attempts
            claimed = await uow.session.execute(
                update(DeliveryRow)
                .where(
                    col(DeliveryRow.id) == delivery_id,
                    col(DeliveryRow.status) == "pending",
                    col(DeliveryRow.attempts) == seen,
                )
                .values(attempts=seen + 1, last_attempt_at=now, next_attempt_at=now + self.lease)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return False
            await uow.commit()
        error: str | None = problem.reason if problem else None
        permanent = bool(problem and problem.permanent)
        if message is not None:
            try:
                sender = self.senders[row.channel]
                await asyncio.wait_for(sender.send(message), self.lease.total_seconds() - 30)
            except DeliveryFailed as exc:
                error, permanent = exc.reason, exc.permanent
            except TimeoutError:
                error = f"{row.channel} timed out"
        await self._record(delivery_id, seen + 1, error, permanent, correlation, row.source_event_id)
        return True

    async def _record(
        self,
        delivery_id: int,
        attempts: int,
        error: str | None,
        permanent: bool,
        correlation: str | None,
        cause: str | None,
    ) -> None:
        async with self._uow(correlation, cause) as uow:
            row = await uow.session.get(DeliveryRow, delivery_id)
            if row is None or row.status != "pending" or row.attempts != attempts:
                return  # the lease ran out and another attempt took over
            now = uow.clock.now()
            common: dict[str, Any] = {
                "notification_id": row.notification_id,
                "source_event_id": row.source_event_id,
                "source_event_type": row.source_event_type,
                "channel": row.channel,
                "recipient_type": row.recipient_type,
                "recipient_id": row.recipient_id,
                "subscription_id": row.subscription_id,
                "broadcast_id": row.broadcast_id,
                "template": row.template,
                "attempts": attempts,
            }
            if error is None:
                row.status, row.delivered_at, row.last_error = "delivered", now, None
                uow.emit(NotificationDelivered(**common, delivered_at=now))
            else:
                reason = redact(error)
                delay = (
                    None
                    if permanent
                    else retry_delay(
                        attempts, self.settings.retry_schedule_s, self.settings.retry_jitter, self.rng.random()
                    )
                )
                row.last_error = reason
                if delay is None:
                    row.status, row.failed_at = "failed", now
                    uow.emit(NotificationFailed(**common, reason=reason, failed_at=now))
                else:
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    log.info(
                        "delivery attempt failed; will retry",
                        extra={"notification_id": row.notification_id, "reason": reason, "retry_in_s": delay},
                    )
            uow.session.add(row)
            await uow.commit()

    # -- composing --------------------------------------------------------------------------

    async def _compose(self, uow: UnitOfWork, row: DeliveryRow) -> tuple[OutgoingMessage, str | None]:
        session = uow.session
        received = None
        if row.source_event_id:
            received = (
                await session.execute(select(ReceivedEventRow).where(ReceivedEventRow.event_id == row.source_event_id))
            ).scalar_one_or_none()
        correlation = received.headers.get("ce_correlationid") if received else None
        if row.channel == "webhook":
            sub = await session.get(SubscriptionRow, row.subscription_id or "")
            if sub is None:
                raise Skip("subscription deleted")
            if received is None:
                raise Undeliverable("source event not kept", permanent=True)
            headers = {f"ce-{k[3:]}": v for k, v in received.headers.items() if k.startswith("ce_")}
            return (
                OutgoingMessage(
                    row.notification_id,
                    "webhook",
                    sub.url,
                    body=received.payload.encode("utf-8"),
                    headers=headers,
                    secret=sub.secret,
                ),
                correlation,
            )
        gateways = {"sms": self.settings.sms_gateway_url, "whatsapp": self.settings.whatsapp_gateway_url}
        if row.channel in gateways and not gateways[row.channel]:
            raise Skip(f"no {row.channel} gateway configured")
        to, label = await self._address(uow, row)
        context = await self._context(uow, row, received, label)
        try:
            text = self.config.templates.render(row.template or "", row.language, context)
        except TemplateError as exc:
            raise Undeliverable(str(exc), permanent=True) from exc
        if row.channel == "email":
            headers = {}
            if context.get("unsubscribe_url"):
                headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
                headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: POST, never GET
            message = OutgoingMessage(
                row.notification_id, "email", to, subject=text.subject, text=text.body, headers=headers
            )
        else:
            message = OutgoingMessage(row.notification_id, row.channel, to, text=text.short)
        return message, correlation

    async def _address(self, uow: UnitOfWork, row: DeliveryRow) -> tuple[str, str]:
        """The recipient's address (decrypted only here, only for this send) and a label."""
        if row.recipient_type in ("cadre", "head_cadre"):
            if await repo.is_opted_out(uow.session, row.recipient_id, row.channel):
                raise Skip("unsubscribed")
            contact = await repo.contact_of(uow.session, row.recipient_id)
            if contact is None:
                raise Undeliverable("no contact details received for this cadre yet")
            token = contact.email_enc if row.channel == "email" else contact.phone_enc
            if token is None:
                raise Skip(f"no {'email' if row.channel == 'email' else 'phone'} on record")
            if self.config.cipher is None:
                raise Undeliverable("no contact key configured")
            try:
                address = self.config.cipher.decrypt(token)
            except FieldCipherError as exc:
                raise Undeliverable("contact details do not decrypt with the configured key") from exc
            cadre = await uow.session.get(CadreRow, row.recipient_id)
            return str(address), (cadre.name if cadre and cadre.name else "Kader")
        if row.recipient_type == "puskesmas":
            mailbox = self.settings.puskesmas_inboxes.get(row.recipient_id)
            if not mailbox:
                raise Skip("no mailbox configured for this Puskesmas")
            return mailbox, row.recipient_id
        if row.recipient_type == "opd_inbox":
            inbox = next((i for i in self.settings.opd_inboxes if i.id == row.recipient_id), None)
            if inbox is None:
                raise Skip("OPD inbox no longer configured")
            return inbox.email, inbox.id.upper()
        raise Undeliverable(f"unknown recipient type {row.recipient_type}", permanent=True)

    async def _context(
        self, uow: UnitOfWork, row: DeliveryRow, received: ReceivedEventRow | None, label: str
    ) -> dict[str, Any]:
        session = uow.session
        payload: dict[str, Any] = json.loads(received.payload) if received else {}
        cadre_id = payload.get("cadre_id") or (row.recipient_id if row.broadcast_id else None)
        cadre = await session.get(CadreRow, cadre_id) if cadre_id else None
        posyandu_id = payload.get("posyandu_id") or (cadre.posyandu_id if cadre else None)
        posyandu = await session.get(PosyanduRow, posyandu_id) if posyandu_id else None
        context: dict[str, Any] = {
            "event": payload,
            "event_type": row.source_event_type,
            "cadre_name": (cadre.name if cadre else None) or payload.get("cadre_name"),
            "posyandu_name": (posyandu.name if posyandu else None) or payload.get("name"),
            "recipient_type": row.recipient_type,
            "recipient_label": label,
            "signature": self.settings.signature,
            "unsubscribe_url": None,
            "title": "",
            "message": "",
        }
        if row.recipient_type in ("cadre", "head_cadre"):
            context["unsubscribe_url"] = self.config.unsubscribe_url(row.recipient_id, row.channel)
        if row.broadcast_id:
            broadcast = await session.get(BroadcastRow, row.broadcast_id)
            if broadcast is None:
                raise Skip("broadcast removed")
            context.update(title=broadcast.title, message=broadcast.message)
        return context


async def delivery_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Background job: attempt due deliveries until the service stops."""
    settings = cast(NotificationsSettings, runtime.settings)
    if not settings.worker_enabled:
        return
    await DeliveryWorker(runtime).run(stop)
