"""Background jobs: the delivery worker. It attempts due deliveries, each recipient in its
own lane so a slow or dead subscriber delays nobody else, each aggregate's events in order
per recipient. An attempt is claimed and recorded by handlers.deliveries; the send happens
here in between, outside any transaction."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import timedelta

from notifications.adapters import repository as repo
from notifications.adapters.channels import DeliveryFailed, Sender, build_senders
from notifications.config import NotificationsConfig
from notifications.handlers.batches import Outcome, claim_webhooks, record_webhooks
from notifications.handlers.broadcasts import complete_broadcasts
from notifications.handlers.deliveries import Attempt, record_attempt, start_attempt
from sikader_shared.service import BackgroundJob, ServiceRuntime

log = logging.getLogger(__name__)
WEBHOOK_LANE = "sub:"  # a subscription's lane: its webhooks go in batches
WAKE_RETRY_S = 0.05
RECORD_RETRY_S = 0.2  # a lane's first wait before recording again while the database is away


class DeliveryWorker:
    def __init__(
        self,
        runtime: ServiceRuntime,
        senders: dict[str, Sender] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.runtime = runtime
        self.config: NotificationsConfig = runtime.config
        self.settings = self.config.settings
        self.senders = senders or build_senders(self.settings)
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(self.settings.worker_concurrency)
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._webhook_lanes: dict[str, WebhookLane] = {}
        timeouts = (self.settings.webhook_timeout_s, self.settings.smtp_timeout_s, self.settings.gateway_timeout_s)
        self.lease = timedelta(seconds=max(timeouts) + 60)

    # -- loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        try:
            woken = False
            while not stop.is_set():
                try:
                    started = await self.tick(wait=False)
                    if woken and not started:  # woken before the consumer's commit: once more
                        await asyncio.sleep(WAKE_RETRY_S)
                        await self.tick(wait=False)
                except Exception:
                    log.exception("delivery tick failed")
                woken = await self._sleep(stop)
        finally:
            tasks = list(self._in_flight.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, stop: asyncio.Event) -> bool:
        """Until the next poll, a wake-up (deliveries planned) or the stop. True when woken."""
        stopping = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self.config.wakeup.wait(self.settings.worker_poll_s))
        try:
            await asyncio.wait([stopping, woken], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not woken.done():
            woken.cancel()
            return False
        return woken.result()

    async def tick(self, wait: bool = True) -> int:
        """Start a lane task for every recipient with a due delivery (a webhook lane still
        busy from an earlier tick is told to look again); with `wait`, return once they are
        done. Returns the number of lanes started or told."""
        await self.complete_broadcasts()
        async with self.runtime.sessions() as session:
            heads = await repo.due_heads(session, self.runtime.clock.now(), self.settings.worker_batch)
        due = list(dict.fromkeys(lane for _, lane in heads))
        poked = 0
        for lane in due:  # a running webhook lane claims again before it ends
            if lane in self._webhook_lanes:
                self._webhook_lanes[lane].poke()
                poked += 1
        lanes = [lane for lane in due if lane not in self._in_flight]
        tasks = []
        for lane in lanes:
            task = asyncio.create_task(self._lane(lane), name=f"lane:{lane}")
            self._in_flight[lane] = task
            task.add_done_callback(self._forget(lane))
            tasks.append(task)
        if wait and tasks:
            await asyncio.gather(*tasks)
        return len(lanes) + poked

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
            if lane.startswith(WEBHOOK_LANE):
                await self._webhook_lane(lane)
                return
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

    async def _webhook_lane(self, lane: str) -> None:
        webhooks = self._webhook_lanes[lane] = WebhookLane(self, lane)
        try:
            await webhooks.run()
        except Exception:  # its claimed deliveries go again when their leases run out
            log.exception("webhook lane stopped", extra={"lane": lane})
            raise
        finally:
            del self._webhook_lanes[lane]

    async def complete_broadcasts(self) -> None:
        async with self.runtime.uow() as uow:
            if await complete_broadcasts(uow):
                await uow.commit()

    # -- one attempt ------------------------------------------------------------------------

    async def attempt(self, delivery_id: int) -> bool:
        """Attempt one delivery if it is still due. True when its state moved on."""
        async with self.runtime.uow() as uow:
            moved, attempt = await start_attempt(uow, self.config, delivery_id, self.lease)
            await uow.commit()
        if attempt is None:
            return moved
        error, permanent = await self._send(attempt)
        rand = self.rng.random() if error is not None and not permanent else 0.0
        # Outcome events carry the source event's correlation id and name it as their cause.
        async with self.runtime.uow(correlation_id=attempt.correlation_id, causation_id=attempt.cause) as uow:
            await record_attempt(uow, self.config, attempt, error, permanent, rand)
            await uow.commit()
        return True

    async def _send(self, attempt: Attempt) -> tuple[str | None, bool]:
        """(error, permanent) of sending the attempt's message; (None, False) when accepted."""
        if attempt.problem is not None:
            return attempt.problem.reason, attempt.problem.permanent
        assert attempt.message is not None
        try:
            sender = self.senders[attempt.channel]
            async with asyncio.timeout(self.lease.total_seconds() - 30):  # no task per send, as wait_for
                await sender.send(attempt.message)
        except DeliveryFailed as exc:
            return exc.reason, exc.permanent
        except TimeoutError:
            return f"{attempt.channel} timed out", False
        return None, False


class WebhookLane:
    """A subscription's lane, pipelined: due heads (one per aggregate key) are claimed in
    batches while earlier ones are still being sent, POSTed up to `webhook_concurrency` at a
    time, and the outcomes recorded in batches as they come (one transaction each). Order per
    key holds without any bookkeeping here: a claimed delivery stays pending (leased) until
    its outcome is recorded, so its key's next one is no head and cannot be claimed before."""

    def __init__(self, worker: DeliveryWorker, lane: str) -> None:
        self.worker = worker
        self.lane = lane
        settings = worker.settings
        self.batch = settings.worker_batch
        self.senders = settings.webhook_concurrency
        self.low_water = max(2 * self.senders, self.batch // 2)  # claim more below this many ready
        self.ready: asyncio.Queue[Attempt] = asyncio.Queue()
        self.sending = 0
        self.sent: list[Outcome] = []
        self.recording = False
        self.poked = False
        self.progress = asyncio.Event()  # wakes the claimer: recorded, running low or poked
        self.outcomes = asyncio.Event()  # wakes the recorder
        self.failure: BaseException | None = None

    def poke(self) -> None:
        """Deliveries were planned for this lane: claim once more before ending."""
        self.poked = True
        self.progress.set()

    def _idle(self) -> bool:
        return self.ready.empty() and not self.sending and not self.sent and not self.recording

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._send_loop()) for _ in range(self.senders)]
        tasks.append(asyncio.create_task(self._record_loop()))
        try:
            while True:
                if self.failure is not None:  # a sender or the recorder stopped: claim no more
                    raise self.failure
                self.progress.clear()
                poked, self.poked = self.poked, False
                claimed = 0
                if self.ready.qsize() < self.low_water:
                    try:
                        claimed = await self._claim(self.batch - self.ready.qsize())
                    except Exception:
                        if self._idle():  # nothing of ours to record: the lane ends
                            raise
                        log.warning("webhook claim failed", exc_info=True, extra={"lane": self.lane})
                        await asyncio.sleep(RECORD_RETRY_S)
                        continue  # the sends in flight are still to be recorded
                if claimed:
                    continue  # more may be due
                # Done when nothing is on its way and nothing moved during the claim (a record
                # committed meanwhile may have made heads its snapshot did not see).
                if self._idle() and not poked and not self.progress.is_set():
                    return
                await self.progress.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim(self, limit: int) -> int:
        """Claim up to `limit` heads and queue them for sending: how many heads were due."""
        worker = self.worker
        async with worker.runtime.uow() as uow:
            due, attempts = await claim_webhooks(uow, self.lane, limit, worker.lease)
            await uow.commit()
        for attempt in attempts:
            self.ready.put_nowait(attempt)
        return due

    async def _send_loop(self) -> None:
        worker = self.worker
        while True:
            attempt = await self.ready.get()
            self.sending += 1
            try:
                error, permanent = await worker._send(attempt)
            except Exception as exc:  # a bug, not a refusal: the lane stops, the lease re-sends
                self.failure = exc
                self.progress.set()
                return
            finally:
                self.sending -= 1
            rand = worker.rng.random() if error is not None and not permanent else 0.0
            self.sent.append(Outcome(attempt, error, permanent, rand))
            self.outcomes.set()
            if self.ready.qsize() < self.low_water:
                self.progress.set()

    async def _record_loop(self) -> None:
        """Record what was sent meanwhile, in one transaction, again and again. A failed
        record (the database away) is tried again, so that what was sent is not sent twice
        when the database comes back within the leases; the lane keeps running meanwhile."""
        worker = self.worker
        backoff = RECORD_RETRY_S
        while True:
            await self.outcomes.wait()
            self.outcomes.clear()
            if not self.sent:
                continue
            batch, self.sent = self.sent, []
            self.recording = True
            try:
                async with worker.runtime.uow() as uow:
                    await record_webhooks(uow, worker.config, batch)
                    await uow.commit()
                backoff = RECORD_RETRY_S
            except Exception:
                log.warning("webhook outcomes not recorded; retrying", exc_info=True, extra={"lane": self.lane})
                self.sent = batch + self.sent
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                self.outcomes.set()
            finally:
                self.recording = False
                self.progress.set()


async def delivery_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Attempt due deliveries until the service stops (off with worker_enabled=false)."""
    config: NotificationsConfig = runtime.config
    if not config.settings.worker_enabled:
        return
    await DeliveryWorker(runtime).run(stop)


JOBS: list[BackgroundJob] = [delivery_worker]
