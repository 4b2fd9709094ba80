"""One small HTTP client for the four services. Every call is made as the signed-in person:
their API key as the bearer, their address in X-Forwarded-For (the services trust the
console as a proxy for their per-address limits). The key never appears in a log line."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)
RETRIED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


class SignedOut(Exception):
    """The services answered 401: the key is unknown or revoked. The session ends."""


class ServiceUnreachable(Exception):
    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass(frozen=True)
class Caller:
    key: str
    address: str
    correlation_id: str = ""


@dataclass
class Answer:
    status: int
    body: Any
    headers: httpx.Headers
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The service's reason for a refusal, as it wrote it."""
        if isinstance(self.body, dict):
            detail = self.body.get("detail") or self.body.get("error") or ""
            if isinstance(detail, list):
                return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
            errors = self.body.get("errors")
            if errors and isinstance(errors, list):
                parts = [f"{'.'.join(map(str, e.get('loc', [])[1:]))}: {e.get('msg', '')}" for e in errors]
                return f"{detail}: {'; '.join(parts)}" if detail else "; ".join(parts)
            return str(detail)
        return str(self.body or "")[:300]


class ServiceClient:
    def __init__(self, urls: dict[str, str], timeout_s: float) -> None:
        self.urls = urls
        self._http = httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()

    def _headers(self, caller: Caller, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {caller.key}", "X-Forwarded-For": caller.address}
        if caller.correlation_id:
            headers["X-Correlation-ID"] = caller.correlation_id
        return headers | (extra or {})

    async def call(
        self,
        caller: Caller,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        raw: bool = False,
    ) -> Answer:
        """`raw`: a success's body is left as bytes (`content`), unparsed, for passing through."""
        extra = dict(headers or {})
        if method in ("POST", "PATCH", "PUT") and "Idempotency-Key" not in extra:
            extra["Idempotency-Key"] = str(uuid.uuid4())
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        url, headers = self.urls[service] + path, self._headers(caller, extra)
        for attempt in (1, 2):
            try:
                r = await self._http.request(method, url, params=clean, json=json, content=content, headers=headers)
                break
            except RETRIED as exc:
                # A kept-alive connection the service closed as it was reused: once more on a
                # new one (a write carries the same Idempotency-Key, so it is applied once).
                if attempt == 2:
                    log.warning("service unreachable", extra={"service": service, "error": type(exc).__name__})
                    raise ServiceUnreachable(service) from exc
            except httpx.HTTPError as exc:
                log.warning("service unreachable", extra={"service": service, "error": type(exc).__name__})
                raise ServiceUnreachable(service) from exc
        if r.status_code == 401:
            raise SignedOut()
        body: Any = None
        if raw and 200 <= r.status_code < 300:
            pass
        elif "json" in r.headers.get("content-type", ""):
            body = r.json()
        elif r.headers.get("content-type", "").startswith("text/"):
            body = r.text
        return Answer(r.status_code, body, r.headers, r.content)

    async def get(self, caller: Caller, service: str, path: str, **params: Any) -> Answer:
        return await self.call(caller, service, "GET", path, params=params)

    async def get_raw(self, caller: Caller, service: str, path: str, **params: Any) -> Answer:
        return await self.call(caller, service, "GET", path, params=params, raw=True)

    async def post(self, caller: Caller, service: str, path: str, body: Any = None) -> Answer:
        return await self.call(caller, service, "POST", path, json=body)
