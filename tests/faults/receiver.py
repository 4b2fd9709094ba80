"""An outside system's webhook endpoint that can go away and come back on the same port:
while it is down, connections are refused (what a crashed receiver looks like). Every
request is kept with its arrival time, its delivery id and whether its signature verified."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sikader_shared.testing.broker import free_port
from tests.notifications.support import verify_signature


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic()
    delivery_id: str
    ce_id: str
    ce_type: str
    subject: str
    verified: bool


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = free_port()
        self.arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sikader"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = verify_signature(receiver.secret, headers, body)
                with receiver._lock:
                    receiver.arrivals.append(
                        Arrival(
                            time.monotonic(),
                            headers.get("x-sikader-delivery", ""),
                            headers.get("ce-id", ""),
                            headers.get("ce-type", ""),
                            headers.get("ce-subject", ""),
                            verified,
                        )
                    )
                self.send_response(200 if verified else 401)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)
