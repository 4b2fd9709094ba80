"""A lean HTTP/1.1 client for webhooks: keep-alive connections per subscriber URL, each
driven directly (asyncio streams + h11), one request at a time. httpx/httpcore's connection
pool bookkeeping cost more CPU a POST than the rest of a delivery (docs/benchmarks.md).

What it does not do, on purpose: follow redirects (a 3xx is an answer that is not 2xx),
send credentials from the URL, speak HTTP/2. TLS verifies the certificate and the host name
(the system's trust store, as httpx did)."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

KEEPALIVE_EXPIRY_S = 30.0  # an idle connection older than this is closed, not reused


class HttpError(Exception):
    """A POST that got no answer; `kind` names the phase as httpx did (ConnectError,
    WriteError, ReadError, RemoteProtocolError)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    host_header: str


def origin_and_target(url: str) -> tuple[Origin, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise HttpError("UnsupportedProtocol")
    port = parts.port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(scheme, parts.hostname, port, parts.netloc.rpartition("@")[2]), target


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def usable(self) -> bool:
        fresh = time.monotonic() - self.idle_since < KEEPALIVE_EXPIRY_S
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()

    async def post(self, origin: Origin, target: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """Send one POST and read its answer (the body is read and dropped): its status."""
        conn = self.h11
        request = h11.Request(
            method="POST",
            target=target,
            headers=[("host", origin.host_header), ("content-length", str(len(body))), *headers],
        )
        try:
            self.writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            await self.writer.drain()
        except OSError as exc:
            raise HttpError("WriteError") from exc
        status = 0
        while True:
            try:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await self.reader.read(65536))
                    continue
            except h11.RemoteProtocolError as exc:
                raise HttpError("RemoteProtocolError") from exc
            except OSError as exc:
                raise HttpError("ReadError") from exc
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("RemoteProtocolError")

    def reusable(self) -> bool:
        """After an answer: ready for the next request (else it is to be closed)."""
        conn = self.h11
        if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
            return False
        conn.start_next_cycle()
        self.idle_since = time.monotonic()
        return True


class WebhookClient:
    """Keep-alive connections per webhook URL (subscribers never share connections), at most
    `size` kept idle for each."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: dict[str, list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def _connect(self, origin: Origin) -> _Connection:
        tls = None
        if origin.scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()  # costly (the trust store): once
            tls = self._tls
        try:
            reader, writer = await asyncio.open_connection(
                origin.host, origin.port, ssl=tls, server_hostname=origin.host if tls else None
            )
        except OSError as exc:  # refused, unreachable, TLS verification (ssl.SSLError)
            raise HttpError("ConnectError") from exc
        return _Connection(reader, writer)

    def _reused(self, url: str) -> _Connection | None:
        idle = self._idle.get(url)
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def post(self, url: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """POST and return the answer's status. A kept-alive connection the receiver closed
        meanwhile fails before any answer: the POST goes again at once on a new connection
        (a duplicate at worst: receivers deduplicate on webhook-id)."""
        origin, target = origin_and_target(url)
        conn = self._reused(url)
        if conn is not None:
            try:
                return await self._post_on(conn, url, origin, target, headers, body)
            except HttpError:
                pass
        return await self._post_on(await self._connect(origin), url, origin, target, headers, body)

    async def _post_on(
        self, conn: _Connection, url: str, origin: Origin, target: str, headers: list[tuple[str, str]], body: bytes
    ) -> int:
        try:
            status = await conn.post(origin, target, headers, body)
        except BaseException:
            conn.close()
            raise
        idle = self._idle.setdefault(url, [])
        if conn.reusable() and len(idle) < self.size:
            idle.append(conn)
        else:
            conn.close()
        return status
