"""The benchmark's webhook receiver on 127.0.0.1: checks each signature, notes when each request came."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Hook:
    at: float
    """`time.perf_counter()` when the request's body had been read."""
    alert: dict[str, Any]
    signature_ok: bool


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.hooks: list[Hook] = []
        self.url = ""
        self._lock = threading.Lock()

    def record(self, headers: dict[str, str], body: bytes) -> None:
        at = time.perf_counter()
        timestamp = headers.get("x-companion-timestamp", "")
        digest = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest("v1=" + digest, headers.get("x-companion-signature", ""))
        with self._lock:
            self.hooks.append(Hook(at, json.loads(body)["alert"], ok))

    def count(self) -> int:
        with self._lock:
            return len(self.hooks)


@contextmanager
def receiving(secret: str) -> Iterator[Receiver]:
    receiver = Receiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
