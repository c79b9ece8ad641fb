"""A webhook receiver on 127.0.0.1 that checks each alert's HMAC-SHA256 signature as a facility's
system would (README "Alert webhooks"), answering with the statuses it is told to, then 200."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_SKEW_S = 300


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    status: int
    at: float = field(default_factory=time.time)
    perf: float = field(default_factory=time.perf_counter)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The check a receiver makes: the signature over `<timestamp>.<body>`, and a fresh timestamp."""
    timestamp = headers.get("x-companion-timestamp", "")
    signature = headers.get("x-companion-signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_SKEW_S:
        return False
    expected = "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class WebhookReceiver:
    def __init__(self, secret: str, statuses: list[int] | None = None) -> None:
        self.secret = secret
        self.statuses = list(statuses or [])
        """Answered in order, one per request; 200 once they are used up."""
        self.received: list[Received] = []
        self._lock = threading.Condition()
        self.url = ""

    def record(self, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append(Received(headers, body, verify(self.secret, headers, body), status))
            self._lock.notify_all()
            return status

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Once `count` requests have come (or `AssertionError` at the deadline)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} webhook requests came, not {count}")
            return list(self.received)

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 200]


@contextmanager
def webhook_receiver(secret: str, statuses: list[int] | None = None) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret, statuses)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
