"""`RedisBus`: messaging between instances through one Redis.

Channels (under `key_prefix`): `dev:{device_id}` carries the device's `BusMessage`s to
whichever instance subscribed to it (the one holding the device's socket). The live
session's answer to a session change is a LIST `outcome:{event_id}` (kept a minute),
which the publisher pops with BLPOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Literal, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.live.events import Outcome
from server.state.base import OUTCOME_TTL_S, Deliver
from server.state.records import BusMessage
from server.state.redis_errors import CONNECT_TIMEOUT_S, OUTAGES, translate_outages

__all__ = ["RedisBus"]

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_bus_decoder: msgspec.json.Decoder[BusMessage] = msgspec.json.Decoder(BusMessage)
_outcome_decoder = msgspec.json.Decoder(Outcome)


_Request = Literal["subscribe", "unsubscribe"]
_RECONNECT_S = 0.5
"""While Redis does not answer, how often the subscriber connection tries again."""


@translate_outages
class RedisBus:
    """A `Bus` over Redis pub/sub: a channel per device, one subscriber connection per instance.

    A reader task dispatches what arrives on the subscriber connection: messages to
    the attached `deliver` callbacks, and the server's confirmations of (un)subscribes
    to the `attach`/`detach` calls waiting for them, paired in the order they were sent.

    While Redis does not answer, calls raise `StoreUnreachable` (`detach` never fails: the device's
    routing goes at once and its subscription is not renewed), and the reader reconnects by itself,
    renewing the subscriptions of the devices still attached.
    """

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str = "cv:",
        confirm_timeout_s: float = 5.0,
        close_client: bool = False,
    ) -> None:
        """`client` must not decode responses; `close_client` makes `close()` close it too."""
        self._r = client
        self._channel_prefix = f"{key_prefix}dev:".encode()
        self._outcome_prefix = f"{key_prefix}outcome:".encode()
        self._confirm_timeout_s = confirm_timeout_s
        self._close_client = close_client
        self._pubsub: PubSub = client.pubsub()
        self._reader: asyncio.Task[None] | None = None
        self._delivers: dict[str, Deliver] = {}
        self._waiters: defaultdict[tuple[str, bytes], deque[asyncio.Future[None]]] = defaultdict(deque)
        self._strays: set[asyncio.Task[None]] = set()
        self._answers: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._answering: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        """Held while changing routing and sending the matching command, so both keep one order."""

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "cv:") -> RedisBus:
        """A bus with its own client, closed by `close()`."""
        # No reply timeout: the subscriber connection and BLPOP wait for as long as they are asked to.
        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        return cls(client, key_prefix=key_prefix, close_client=True)

    async def start(self) -> None:
        """Open the subscriber connection and start reading it."""
        if self._reader is None:
            await self._pubsub.connect()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._answering is not None:
            self._answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._answering
        for queue in self._waiters.values():
            for waiter in queue:
                waiter.cancel()
        self._waiters.clear()
        self._delivers.clear()
        await self._pubsub.aclose()
        if self._close_client:
            await self._r.aclose()

    async def attach(self, device_id: str, deliver: Deliver) -> None:
        """Route to `deliver`; returns once the server confirmed the subscription."""
        if self._reader is None:
            raise RuntimeError("RedisBus.start() must be called before attach()")
        async with self._lock:
            self._delivers[device_id] = deliver
            confirmed = await self._request("subscribe", device_id)
        await asyncio.wait_for(confirmed, self._confirm_timeout_s)

    async def detach(self, device_id: str, deliver: Deliver) -> None:
        """Stop routing to `deliver` if it is still attached; returns once unsubscribed, or at once if
        Redis does not answer (then the subscription is dropped here and not renewed on reconnecting, so
        a `send` to the device finds no receiver instead of one that would drop it)."""
        async with self._lock:
            # Equality, not identity: each access to a bound method makes a new, equal object.
            if self._delivers.get(device_id) != deliver:
                return
            del self._delivers[device_id]
            try:
                confirmed = await self._request("unsubscribe", device_id)
            except OUTAGES:
                self._forget(device_id)
                return
        try:
            await asyncio.wait_for(confirmed, self._confirm_timeout_s)
        except OUTAGES:  # TimeoutError among them: the confirmation never came
            self._forget(device_id)

    def _forget(self, device_id: str) -> None:
        """Drop the device's subscription from the subscriber connection's own list, which redis-py
        subscribes again whenever it reconnects; the server forgets it with the dead connection."""
        if device_id in self._delivers:  # attached again meanwhile: its subscription stays
            return
        channel = self._channel(device_id)
        self._pubsub.channels.pop(channel, None)
        self._pubsub.pending_unsubscribe_channels.discard(channel)

    async def send(self, device_id: str, message: BusMessage) -> bool:
        receivers: int = await self._r.publish(self._channel(device_id), _encoder.encode(message))
        return receivers > 0

    async def send_many(self, messages: Sequence[tuple[str, BusMessage]]) -> list[bool]:
        """Every PUBLISH in one pipeline: one round trip for the lot."""
        if not messages:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for device_id, message in messages:
                pipe.publish(self._channel(device_id), _encoder.encode(message))
            receivers: list[int] = await pipe.execute()
        return [count > 0 for count in receivers]

    async def answer(self, outcome: Outcome) -> None:
        """Answers given at the same moment (a fan-out's live sessions, all answering at once) are
        written together, in one transaction on one pooled connection: a hundred at once would
        otherwise need a hundred connections, past the pool's bound."""
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._answers.append((outcome, written))
        if self._answering is None or self._answering.done():
            self._answering = asyncio.create_task(self._write_answers(), name="redis-bus-answers")
        await written

    async def _write_answers(self) -> None:
        while self._answers:
            batch, self._answers = self._answers, []
            try:
                async with self._r.pipeline(transaction=True) as pipe:
                    for outcome, _ in batch:
                        key = self._outcome_key(outcome.event_id)
                        pipe.rpush(key, _encoder.encode(outcome))
                        pipe.expire(key, OUTCOME_TTL_S)
                    await pipe.execute()
            except Exception as exc:  # each answer's caller gets the failure (an outage: StoreUnreachable)
                for _, written in batch:
                    if not written.done():
                        written.set_exception(exc)
                continue
            for _, written in batch:
                if not written.done():
                    written.set_result(None)

    async def outcome(self, event_id: str, timeout_s: float) -> Outcome | None:
        # BLPOP holds a pooled connection of its own while it waits; the answer waits in its list
        # (for OUTCOME_TTL_S) if it came first.
        reply = await self._r.blpop([self._outcome_key(event_id)], timeout=timeout_s)
        if reply is None:
            return None
        return _outcome_decoder.decode(reply[1])

    async def outcomes(self, event_ids: Sequence[str], timeout_s: float) -> dict[str, Outcome]:
        """One BLPOP over every key still waited for; when one answer comes, those already there are
        taken in one pipelined round of LPOPs. One pooled connection, however many events."""
        pending = {self._outcome_key(event_id): event_id for event_id in event_ids}
        found: dict[str, Outcome] = {}
        deadline = time.monotonic() + timeout_s
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            reply = await self._r.blpop(list(pending), timeout=max(remaining, 0.01))
            if reply is None:
                break
            key, raw = cast(tuple[bytes, bytes], reply)  # the client does not decode responses
            self._take(pending, found, key, raw)
            keys = list(pending)
            async with self._r.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.lpop(key)
                for key, raw in zip(keys, await pipe.execute(), strict=True):
                    if raw is not None:
                        self._take(pending, found, key, raw)
        return found

    @staticmethod
    def _take(pending: dict[bytes, str], found: dict[str, Outcome], key: bytes, raw: bytes) -> None:
        event_id = pending.pop(key)
        found[event_id] = _outcome_decoder.decode(raw)

    def _outcome_key(self, event_id: str) -> bytes:
        return self._outcome_prefix + event_id.encode()

    def _channel(self, device_id: str) -> bytes:
        return self._channel_prefix + device_id.encode()

    async def _request(self, kind: _Request, device_id: str) -> asyncio.Future[None]:
        """Send a (un)subscribe; the future resolves when the server confirms it."""
        channel = self._channel(device_id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[(kind, channel)]
        queue.append(waiter)
        try:
            if kind == "subscribe":
                await self._pubsub.subscribe(channel)
            else:
                await self._pubsub.unsubscribe(channel)
        except BaseException:
            queue.remove(waiter)
            raise
        return waiter

    async def _read(self) -> None:
        """Dispatch what arrives on the subscriber connection, until `close()`."""
        failing = False
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                if not failing:  # once per outage, not once per attempt
                    log.warning("bus: subscriber connection lost (%s); reconnecting", type(exc).__name__)
                failing = True
                await asyncio.sleep(_RECONNECT_S)
                continue
            if failing:  # redis-py subscribed again, on connecting, every channel still attached
                log.info("bus: subscriber connection back")
                failing = False
            if message is None:
                continue
            kind, channel = message["type"], message["channel"]
            if kind in ("subscribe", "unsubscribe"):
                self._confirm(kind, channel)
            elif kind == "message":
                self._deliver(channel, message["data"])

    def _unsubscribe_later(self, channel: bytes) -> None:
        if channel in self._pubsub.pending_unsubscribe_channels:  # a detach is unsubscribing it already
            return
        task = asyncio.create_task(self._unsubscribe_stray(channel), name="redis-bus-unsubscribe")
        self._strays.add(task)
        task.add_done_callback(self._strays.discard)

    async def _unsubscribe_stray(self, channel: bytes) -> None:
        async with self._lock:
            device_id = channel[len(self._channel_prefix) :].decode()
            if device_id not in self._delivers:
                with contextlib.suppress(*OUTAGES):
                    await self._pubsub.unsubscribe(channel)

    def _confirm(self, kind: str, channel: bytes) -> None:
        """Resolve the oldest request still waiting for this confirmation (timed-out ones are skipped)."""
        queue = self._waiters.get((kind, channel))
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break
        if queue is not None and not queue:
            del self._waiters[(kind, channel)]

    def _deliver(self, channel: bytes, data: bytes) -> None:
        """Hand a published message to the device's `deliver`; a bad one is logged and skipped."""
        device_id = channel[len(self._channel_prefix) :].decode()
        deliver = self._delivers.get(device_id)
        if deliver is None:
            # Subscribed with nothing attached (a detach whose unsubscribe was lost): unsubscribe, so the
            # next `send` finds no receiver and reports the device offline.
            log.warning("bus: a message for device %s, which is not attached here, was dropped", device_id)
            self._unsubscribe_later(channel)
            return
        try:
            message = _bus_decoder.decode(data)
        except msgspec.DecodeError:
            log.warning("bus: skipped a malformed message for device %s", device_id)
            return
        try:
            deliver(message)
        except Exception:
            log.exception("bus: delivery to device %s failed", device_id)
