"""A development SMTP catcher for `make run` (and the tests): an aiosmtpd server that keeps
every message it receives as an .eml file, and a tiny HTTP page listing them. The same HTTP
server also plays the SMS / WhatsApp gateway (POST /gateway/sms, /gateway/whatsapp).

    python -m sikader_shared.testing.devsmtp --smtp-port 1025 --http-port 8025 --dir var/mail

Point the service at it with SIKADER_NOTIFICATIONS_SMTP_HOST=127.0.0.1,
SIKADER_NOTIFICATIONS_SMTP_PORT=1025 (the defaults) and, for text messages,
SIKADER_NOTIFICATIONS_SMS_GATEWAY_URL=http://127.0.0.1:8025/gateway/sms and
SIKADER_NOTIFICATIONS_WHATSAPP_GATEWAY_URL=http://127.0.0.1:8025/gateway/whatsapp.
Never use it in production: it accepts anything and keeps it in clear text."""

from __future__ import annotations

import argparse
import html
import json
import os
import signal
import threading
import time
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MailStore:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last_ns = 0

    def _stamp(self) -> str:
        """A name prefix that sorts in arrival order: several messages arrive within one second,
        so whole seconds (and a random suffix) would list them in random order."""
        with self._lock:
            self._last_ns = max(time.time_ns(), self._last_ns + 1)
            ns = self._last_ns
        seconds, fraction = divmod(ns, 1_000_000_000)
        return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(seconds))}.{fraction:09d}-{uuid.uuid4().hex[:6]}"

    def save(self, content: bytes) -> Path:
        name = f"{self._stamp()}.eml"
        tmp = self.dir / f".{name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, self.dir / name)  # readers never see half a message
        return self.dir / name

    def save_text(self, channel: str, payload: dict[str, Any]) -> None:
        name = f"{self._stamp()}.{channel}.json"
        (self.dir / name).write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")

    def texts(self) -> list[dict[str, Any]]:
        """SMS / WhatsApp messages received by the dev gateway, oldest first."""
        return [json.loads(p.read_text("utf-8")) for p in sorted(self.dir.glob("*.json"))]

    def names(self) -> list[str]:
        return sorted((p.name for p in self.dir.glob("*.eml")), reverse=True)

    def read(self, name: str) -> EmailMessage:
        msg = message_from_bytes((self.dir / name).read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def messages(self) -> list[EmailMessage]:
        """Every stored message, oldest first."""
        return [self.read(n) for n in reversed(self.names())]

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for name in self.names():
            msg = self.read(name)
            out.append({"file": name, "to": msg["To"], "subject": msg["Subject"], "date": msg["Date"]})
        return out


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or envelope.content or b""
        self.store.save(content if isinstance(content, bytes) else content.encode("utf-8"))
        return "250 Message accepted for delivery"


def _http_handler(store: MailStore) -> type[BaseHTTPRequestHandler]:
    class Page(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                rows = "".join(
                    f"<tr><td>{html.escape(m['date'] or '')}</td><td>{html.escape(m['to'] or '')}</td>"
                    f"<td><a href='/messages/{m['file']}'>{html.escape(m['subject'] or '(no subject)')}</a></td></tr>"
                    for m in store.summary()
                )
                self._send(
                    200,
                    "<!doctype html><meta charset='utf-8'><title>sikader dev mail</title>"
                    f"<h1>Received mail ({len(store.names())})</h1><table border=1 cellpadding=4>"
                    f"<tr><th>Date</th><th>To</th><th>Subject</th></tr>{rows}</table>"
                    f"<h1>SMS / WhatsApp ({len(store.texts())})</h1><table border=1 cellpadding=4>"
                    "<tr><th>Channel</th><th>To</th><th>Text</th></tr>"
                    + "".join(
                        f"<tr><td>{html.escape(str(t.get('channel')))}</td><td>{html.escape(str(t.get('to')))}</td>"
                        f"<td>{html.escape(str(t.get('text')))}</td></tr>"
                        for t in reversed(store.texts())
                    )
                    + "</table>",
                    "text/html; charset=utf-8",
                )
            elif self.path == "/messages.json":
                self._send(200, json.dumps(store.summary()), "application/json")
            elif self.path.startswith("/messages/"):
                name = Path(unquote(self.path[len("/messages/") :])).name
                if name not in store.names():
                    self._send(404, "not found", "text/plain")
                    return
                self._send(200, (store.dir / name).read_text("utf-8", "replace"), "text/plain; charset=utf-8")
            else:
                self._send(404, "not found", "text/plain")

        def do_POST(self) -> None:
            channel = self.path.removeprefix("/gateway/")
            if channel not in ("sms", "whatsapp"):
                self._send(404, "not found", "text/plain")
                return
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            except ValueError:
                self._send(400, "body is not JSON", "text/plain")
                return
            store.save_text(channel, payload if isinstance(payload, dict) else {"body": payload})
            self._send(202, json.dumps({"accepted": True}), "application/json")

    return Page


class DevMailServer:
    """SMTP on `smtp_port`, the listing on `http_port` (0: no HTTP page)."""

    def __init__(self, directory: str | Path, smtp_port: int = 1025, http_port: int = 8025, host: str = "127.0.0.1"):
        self.store = MailStore(directory)
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self._controller = Controller(_Handler(self.store), hostname=host, port=smtp_port)
        self._http: ThreadingHTTPServer | None = None

    def start(self) -> DevMailServer:
        self._controller.start()
        if self.http_port:
            self._http = ThreadingHTTPServer((self.host, self.http_port), _http_handler(self.store))
            threading.Thread(target=self._http.serve_forever, name="devsmtp-http", daemon=True).start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}/"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--dir", default="var/mail")
    args = parser.parse_args(argv)
    server = DevMailServer(args.dir, args.smtp_port, args.http_port, args.host).start()
    print(f"dev SMTP on {args.host}:{args.smtp_port}; received mail at {server.url}", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
