"""Drives a plan against the running services and watches their readiness.

Each write goes out at its time, once the writes it needs are accepted, with its own
Idempotency-Key; a connection error, a timeout or a 5xx is retried with the SAME key (the
service answers a repeat with the first answer), so a write is accepted exactly once however
often it had to be sent. Every attempt is kept with its time: a fault's window can then be
asked how many writes were accepted in it and how many attempts failed."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.faults.plan import Op, Plan

_REF = re.compile(r"\{([pc]\d+)\}")


@dataclass
class Attempt:
    at: float
    outcome: str  # accepted | replayed | failed | not_yet | refused
    detail: str = ""


@dataclass
class Outcome:
    op: Op
    attempts: list[Attempt] = field(default_factory=list)
    accepted_at: float | None = None
    answer: Any = None
    refused: str | None = None
    cut: bool = False  # never sent: the load had ended before its time

    @property
    def first_sent(self) -> float | None:
        return self.attempts[0].at if self.attempts else None


class LoadRunner:
    def __init__(self, plan: Plan, urls: dict[str, str], key: str) -> None:
        self.plan = plan
        self.urls = urls
        self.key = key
        self.outcomes = {o.index: Outcome(o) for o in plan.ops}
        self.position = {o.index: k for k, o in enumerate(plan.ops)}
        self.ids: dict[str, str] = {}
        self._done = {o.index: asyncio.Event() for o in plan.ops}
        self.t0 = 0.0
        self.give_up_at = float("inf")
        self.sent = len(plan.ops)  # the first `sent` writes of the plan go out
        self._cut = asyncio.Event()

    def cut(self) -> int:
        """End the load now: the writes whose time has come still go out (and are retried
        until accepted), the later ones never do. Returns how many go out."""
        elapsed = time.monotonic() - self.t0
        self.sent = sum(1 for o in self.plan.ops if o.at <= elapsed)
        self._cut.set()
        return self.sent

    # ---------------------------------------------------------------- running

    async def run(self) -> None:
        self.t0 = time.monotonic()
        clients = {
            s: httpx.AsyncClient(base_url=u, headers={"Authorization": f"Bearer {self.key}"}, timeout=10)
            for s, u in self.urls.items()
        }
        try:
            await asyncio.gather(*(self._run(o, clients[o.service]) for o in self.plan.ops))
        finally:
            for c in clients.values():
                await c.aclose()

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str):
            return _REF.sub(lambda m: self.ids[m.group(1)], value)
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value

    async def _run(self, op: Op, client: httpx.AsyncClient) -> None:
        out = self.outcomes[op.index]
        try:
            delay = self.t0 + op.at - time.monotonic()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._cut.wait(), delay)
                except TimeoutError:
                    pass
            if self.position[op.index] >= self.sent:
                out.cut = True
                return
            for dep in op.after:
                await self._done[dep].wait()
            if any(self.outcomes[d].accepted_at is None for d in op.after):
                out.refused = "a write it needs was not accepted"
                return
            path, body = self._resolve(op.path), self._resolve(op.body)
            headers = {"Idempotency-Key": f"faults-{self.plan.tag}-{op.index}"}
            pause = 0.3
            while True:
                now = time.monotonic()
                if now > self.give_up_at:
                    out.refused = "gave up: no definite answer before the deadline"
                    return
                try:
                    r = await client.request(op.method, path, json=body, headers=headers)
                except httpx.TransportError as exc:
                    out.attempts.append(Attempt(now, "failed", type(exc).__name__))
                else:
                    if r.status_code < 300:
                        replayed = r.headers.get("idempotent-replayed") == "true"
                        out.attempts.append(Attempt(now, "replayed" if replayed else "accepted", str(r.status_code)))
                        out.accepted_at = time.monotonic()
                        out.answer = r.json()
                        if op.ref:
                            self.ids[op.ref] = str(out.answer["id"])
                        return
                    if r.status_code in op.not_yet:
                        out.attempts.append(Attempt(now, "not_yet", str(r.status_code)))
                        await asyncio.sleep(0.5)
                        continue
                    if r.status_code < 500:
                        out.attempts.append(Attempt(now, "refused", f"{r.status_code} {r.text[:300]}"))
                        out.refused = f"{r.status_code}: {r.text[:300]}"
                        return
                    out.attempts.append(Attempt(now, "failed", f"{r.status_code} {r.text[:120]}"))
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, 2.0)
        finally:
            self._done[op.index].set()

    # ---------------------------------------------------------------- questions

    def finished(self) -> bool:
        return all(e.is_set() for e in self._done.values())

    async def wait_finished(self) -> None:
        await asyncio.gather(*(e.wait() for e in self._done.values()))

    def accepted_in(self, t1: float, t2: float, service: str | None = None) -> int:
        return sum(
            1
            for o in self.outcomes.values()
            if o.accepted_at is not None and t1 <= o.accepted_at <= t2 and service in (None, o.op.service)
        )

    def attempts_in(self, t1: float, t2: float, outcome: str, service: str | None = None) -> int:
        return sum(
            1
            for o in self.outcomes.values()
            for a in o.attempts
            if a.outcome == outcome and t1 <= a.at <= t2 and service in (None, o.op.service)
        )

    def failures_in(self, t1: float, t2: float) -> dict[str, int]:
        """What the failed attempts in the window got: an HTTP status or the client's exception."""
        return dict(
            Counter(
                a.detail.split(" ")[0]
                for o in self.outcomes.values()
                for a in o.attempts
                if a.outcome == "failed" and t1 <= a.at <= t2
            )
        )

    def writes_failed_in(self, t1: float, t2: float, service: str | None = None) -> int:
        """Writes with at least one failed attempt in the window (each later retried)."""
        return sum(
            1
            for o in self.outcomes.values()
            if service in (None, o.op.service) and any(a.outcome == "failed" and t1 <= a.at <= t2 for a in o.attempts)
        )

    def sent_before(self, t: float) -> list[Outcome]:
        return [o for o in self.outcomes.values() if o.first_sent is not None and o.first_sent <= t]

    def unaccepted_sent_before(self, t: float, service: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes.values()
            if o.first_sent is not None and o.first_sent <= t and o.accepted_at is None and o.refused is None
            and service in (None, o.op.service)
        ]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        outcomes = [o for o in self.outcomes.values() if not o.cut]
        accepted = [o for o in outcomes if o.accepted_at is not None]
        latencies = sorted(o.accepted_at - o.first_sent for o in accepted if o.first_sent is not None)

        def pct(p: float) -> float:
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3) if latencies else 0.0

        return {
            "writes_planned": len(outcomes),
            "writes_accepted": len(accepted),
            "writes_refused": len([o for o in outcomes if o.refused]),
            "attempts": sum(len(o.attempts) for o in outcomes),
            "failed_attempts": sum(1 for o in outcomes for a in o.attempts if a.outcome == "failed"),
            "writes_with_failed_attempts": sum(1 for o in outcomes if any(a.outcome == "failed" for a in o.attempts)),
            "not_yet_attempts": sum(1 for o in outcomes for a in o.attempts if a.outcome == "not_yet"),
            # A repeat answered from the idempotency store: the earlier attempt had committed
            # although its caller saw an error or no answer.
            "accepted_by_replay": sum(1 for o in accepted if o.attempts[-1].outcome == "replayed"),
            "by_kind": dict(Counter(o.op.kind for o in accepted)),
            "first_send_to_accepted_s": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
        }


@dataclass
class Sample:
    at: float
    code: int  # 0: no answer
    broker: str = ""
    consumer: bool = False
    backlog: int | None = None
    lag: int | None = None  # the consumer's lag, as the service last measured it
    lag_at: float | None = None  # when it measured it (monotonic)


class ReadinessMonitor:
    """Polls every service's /health/ready a few times a second, keeping the answers."""

    def __init__(self, urls: dict[str, str], interval: float = 0.5) -> None:
        self.urls = urls
        self.interval = interval
        self.samples: dict[str, list[Sample]] = {s: [] for s in urls}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=2) as client:
            while not self._stop.is_set():
                await asyncio.gather(*(self._poll(client, s, u) for s, u in self.urls.items()))
                try:
                    await asyncio.wait_for(self._stop.wait(), self.interval)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self._stop.set()

    async def _poll(self, client: httpx.AsyncClient, service: str, url: str) -> None:
        now = time.monotonic()
        try:
            r = await client.get(f"{url}/health/ready")
            body = r.json()
            consumer = body.get("consumer", {})
            ago = consumer.get("lag_measured_s_ago")
            self.samples[service].append(
                Sample(
                    now,
                    r.status_code,
                    str(body.get("broker", {}).get("status", "")),
                    bool(consumer.get("running")),
                    body.get("outbox_backlog"),
                    consumer.get("lag"),
                    None if ago is None else now - float(ago),
                )
            )
        except (httpx.HTTPError, ValueError):
            self.samples[service].append(Sample(now, 0))

    def not_ready_in(self, service: str, t1: float, t2: float) -> int:
        return sum(1 for s in self.samples[service] if t1 <= s.at <= t2 and s.code != 200)

    def clear_since(self, service: str, t: float) -> bool:
        """Seen ready, consuming and with an empty outbox at some moment after `t`: every
        event committed before that moment is published."""
        return any(
            x.at >= t and x.code == 200 and x.consumer and x.backlog == 0 for x in reversed(self.samples[service])
        )

    def zero_lag_after(self, t: float) -> float | None:
        """The moment every service had measured a lag of 0 after `t` (None: not yet)."""
        moments = []
        for samples in self.samples.values():
            first = next((x.at for x in samples if x.lag == 0 and x.lag_at is not None and x.lag_at >= t), None)
            if first is None:
                return None
            moments.append(first)
        return max(moments)

    def last(self, service: str) -> Sample | None:
        samples = self.samples[service]
        return samples[-1] if samples else None
