"""Alert webhooks: each alert POSTed as JSON to every configured URL, signed, retried with backoff.

Signature: `X-Companion-Signature: v1=<hex>` where hex is HMAC-SHA256 with the webhook secret
over `<X-Companion-Timestamp>.<body>` (the timestamp in Unix seconds, a dot, the raw body bytes).
A receiver recomputes it, compares in constant time, and refuses a timestamp more than a few
minutes old (a replay). Each attempt is signed afresh with its own timestamp.

`send` never waits: deliveries go on a bounded queue that a few worker tasks take from. A
delivery that fails (no answer, a timeout, a 5xx or 429) is tried again after 0.5 s, 1 s, 2 s …
(doubling, at most `max_backoff_s`) up to `max_attempts`; a 4xx other than 429 is not retried.
Waiting retries hold no worker. Past `queue_size` deliveries pending, new ones are dropped and
logged (ids only). Pending deliveries live in this instance's memory: an instance stopped while
one waits loses it (the alert itself is in the store, listed by `GET /alerts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time

import httpx2
import msgspec

log = logging.getLogger(__name__)

WORKERS = 4


class Delivery(msgspec.Struct):
    url: str
    body: bytes
    alert_id: str
    delivery_id: str
    attempt: int = 0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class Webhooks:
    def __init__(
        self,
        *,
        urls: tuple[str, ...],
        secret: str,
        queue_size: int,
        max_attempts: int,
        timeout_s: float = 5.0,
        first_backoff_s: float = 0.5,
        max_backoff_s: float = 60.0,
    ) -> None:
        self.urls = urls
        self._secret = secret
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._limit = queue_size
        self._pending = 0
        self._max_attempts = max_attempts
        self._timeout_s = timeout_s
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._workers: list[asyncio.Task[None]] = []
        self._waiting: set[asyncio.TimerHandle] = set()
        self._client: httpx2.AsyncClient | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        if not self.urls:
            return
        self._client = httpx2.AsyncClient(timeout=self._timeout_s, follow_redirects=False)
        self._workers = [asyncio.create_task(self._work(), name=f"alert-webhook-{i}") for i in range(WORKERS)]

    async def close(self) -> None:
        for handle in self._waiting:
            handle.cancel()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    def send(self, body: bytes, *, alert_id: str) -> None:
        """Queue the alert's delivery to every URL; returns at once."""
        for url in self.urls:
            if self._pending >= self._limit:
                self.dropped += 1
                log.warning("alert webhook: queue full, delivery of %s dropped", alert_id)
                continue
            self._pending += 1
            delivery_id = f"whd_{secrets.token_hex(8)}"
            self._queue.put_nowait(Delivery(url=url, body=body, alert_id=alert_id, delivery_id=delivery_id))

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            delivery.attempt += 1
            outcome = await self._post(delivery)
            if outcome == "done":
                self._pending -= 1
                self.delivered += 1
            elif outcome == "retry" and delivery.attempt < self._max_attempts:
                delay = min(self._first_backoff_s * 2 ** (delivery.attempt - 1), self._max_backoff_s)
                self._later(delay, delivery)
            else:
                self._pending -= 1
                self.failed += 1
                log.warning(
                    "alert webhook: %s not delivered after %d attempts", delivery.alert_id, delivery.attempt
                )

    def _later(self, delay: float, delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()

        def again() -> None:
            self._waiting.discard(handle)
            self._queue.put_nowait(delivery)

        handle = loop.call_later(delay, again)
        self._waiting.add(handle)

    async def _post(self, delivery: Delivery) -> str:
        assert self._client is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "companion-voice-alerts",
            "X-Companion-Event": "alert",
            "X-Companion-Delivery": delivery.delivery_id,
            "X-Companion-Attempt": str(delivery.attempt),
            "X-Companion-Timestamp": timestamp,
            "X-Companion-Signature": signature(self._secret, timestamp, delivery.body),
        }
        try:
            response = await self._client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx2.HTTPError as exc:
            log.info(
                "alert webhook: attempt %d for %s failed: %s",
                delivery.attempt,
                delivery.alert_id,
                type(exc).__name__,
            )
            return "retry"
        if response.is_success:
            return "done"
        log.info(
            "alert webhook: attempt %d for %s got %d",
            delivery.attempt,
            delivery.alert_id,
            response.status_code,
        )
        return "retry" if response.status_code >= 500 or response.status_code == 429 else "give_up"
