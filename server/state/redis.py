"""`RedisStore`: state shared by every instance through one Redis (its `Bus` is in `redis_bus.py`).

Keys (each under `key_prefix`), one per independently updated piece, so that
concurrent writers never overwrite each other's fields:

    device:{id}         JSON DeviceRecord           devices            ZSET of ids by created_at
    runtime:{id}        HASH attribute -> JSON      presence:{id}      JSON Presence, PX ttl
    session:{id}        JSON SessionRecord, kept until expires_at + retention
    sessions            ZSET of ids by created_at   sessions:dev:{id}  the same, per device
    ctx:{session_id}    LIST of JSON ChatMessage, expiring with its session
    pauses:{session_id} JSON PauseProfile (a learning persona's), expiring with its session
    revoked:{jti}       until the token's expiry    rl:{key}:{window}  INCR counter of one window
    metrics:{id}:{day}  HASH, for a few days        command:{id}       JSON, with its ttl
    activity:{id}       JSON ActivityRecord (a stopped one kept for the session retention)
    activities          ZSET of activity ids by started_at
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from pipeline.graph.pauses import PauseProfile
from pipeline.llm import ChatMessage
from server.state.base import UNSET, UnsetType
from server.state.records import (
    ActivityRecord,
    CommandRecord,
    DayMetrics,
    DeviceRecord,
    DeviceRuntime,
    DeviceSnapshot,
    Presence,
    RateCount,
    RateWindow,
    RuntimeChange,
    SessionRecord,
    TokenCheck,
    TokenStanding,
)
from server.state.redis_errors import CONNECT_TIMEOUT_S, OUTAGES, REPLY_TIMEOUT_S, translate_outages
from server.state.redis_link import RedisLink
from server.state.redis_scripts import StoreScripts

__all__ = ["RedisStore"]

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
_device_decoder = msgspec.json.Decoder(DeviceRecord)
_runtime_decoder = msgspec.json.Decoder(DeviceRuntime)
_presence_decoder = msgspec.json.Decoder(Presence)
_session_decoder = msgspec.json.Decoder(SessionRecord)
_chat_decoder = msgspec.json.Decoder(ChatMessage)
_pauses_decoder = msgspec.json.Decoder(PauseProfile)
_command_decoder = msgspec.json.Decoder(CommandRecord)
_activity_decoder = msgspec.json.Decoder(ActivityRecord)

_RUNTIME_FIELDS = ("active_persona_id", "active_session_id", "last_activity")
_PRUNE_SAMPLE = 8
"""Index entries checked per new session; dead ones go (as Redis samples keys to expire them)."""


@translate_outages
class RedisStore:
    """A `Store` in Redis, shared by every server instance that uses the same Redis and prefix.

    Every call raises `StoreUnreachable` while Redis does not answer (`redis_errors.py`)."""

    backend = "redis"

    def __init__(
        self,
        client: Redis,
        *,
        key_prefix: str = "cv:",
        session_retention_s: int = 86400,
        metrics_retention_days: int = 7,
        close_client: bool = False,
    ) -> None:
        """`client` must not decode responses; `close_client` makes `close()` close it too."""
        self._r = client
        self._p = key_prefix
        self._retention_s = session_retention_s
        self._metrics_days = metrics_retention_days
        self._close_client = close_client
        # A REST request's commands (its token check and reads) go over the lean link; the rest, and
        # everything on a TLS connection the link does not speak, over redis-py (redis_link.py).
        self._link = RedisLink.for_client(client)
        self._scripts = StoreScripts(client, self._link)
        if self._link is None:
            self._get: Callable[[str], Awaitable[Any]] = client.get
        else:
            self._get = functools.partial(self._link.call, "GET")

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str = "cv:", session_retention_s: int = 86400) -> RedisStore:
        """A store with its own client, closed by `close()`."""
        client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=REPLY_TIMEOUT_S)
        return cls(
            client,
            key_prefix=key_prefix,
            session_retention_s=session_retention_s,
            close_client=True,
        )

    async def ping(self) -> bool:
        """False while Redis does not answer (health reports it; it never fails)."""
        try:
            return bool(await self._r.ping())
        except OUTAGES:
            return False

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()
        if self._close_client:
            await self._r.aclose()

    def keyspace(self) -> tuple[Redis, str]:
        """The client and key prefix, for records kept beside these (`server.state.profiles`)."""
        return self._r, self._p

    # Devices
    async def add_device(self, device: DeviceRecord) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._k("device", device.device_id), _encoder.encode(device))
            pipe.zadd(self._k("devices"), {device.device_id: device.created_at.timestamp()})
            await pipe.execute()

    async def replace_device(self, device: DeviceRecord) -> None:
        """Overwrite a known device; a no-op for an unknown (e.g. just deleted) one."""
        await self._r.set(self._k("device", device.device_id), _encoder.encode(device), xx=True)

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        raw = await self._get(self._k("device", device_id))
        return None if raw is None else _device_decoder.decode(raw)

    async def list_devices(self) -> list[DeviceRecord]:
        ids = _members(await self._r.zrange(self._k("devices"), 0, -1))
        if not ids:
            return []
        raws = await self._r.mget([self._k("device", i) for i in ids])
        return [_device_decoder.decode(raw) for raw in raws if raw is not None]

    async def delete_device(self, device_id: str) -> bool:
        today = datetime.now(UTC).date()
        days = [today + timedelta(days=n) for n in range(-self._metrics_days - 2, 2)]  # all that may live
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._k("device", device_id))
            pipe.delete(self._k("runtime", device_id), self._k("presence", device_id))
            pipe.delete(*(self._metrics_key(device_id, day) for day in days))
            pipe.zrem(self._k("devices"), device_id)
            deleted, *_ = await pipe.execute()
        return bool(deleted)

    async def get_runtime(self, device_id: str) -> DeviceRuntime:
        fields = cast(dict[bytes, bytes], await self._r.hgetall(self._k("runtime", device_id)))
        return _runtime(fields.items())

    async def get_device_snapshot(self, device_id: str, day: date) -> DeviceSnapshot | None:
        keys = [self._k("device", device_id), self._k("runtime", device_id), self._k("presence", device_id)]
        reply = await self._scripts.device_snapshot(keys=[*keys, self._metrics_key(device_id, day)])
        if reply is None:
            return None
        device, runtime, presence, (interactions, latency) = reply
        return DeviceSnapshot(
            device=_device_decoder.decode(device),
            runtime=_runtime(zip(runtime[::2], runtime[1::2], strict=True)),
            presence=None if presence is None else _presence_decoder.decode(presence),
            day=DayMetrics(
                day=day, interactions=int(interactions or 0), latency_ms_total=float(latency or 0)
            ),
        )

    async def update_runtime(
        self,
        device_id: str,
        *,
        active_persona_id: str | UnsetType | None = UNSET,
        active_session_id: str | UnsetType | None = UNSET,
        last_activity: datetime | UnsetType = UNSET,
    ) -> None:
        values = (active_persona_id, active_session_id, last_activity)
        given = {name: v for name, v in zip(_RUNTIME_FIELDS, values, strict=True) if v is not UNSET}
        if given:
            encoded: dict[FieldT, EncodableT] = {name: _encoder.encode(v) for name, v in given.items()}
            await self._r.hset(self._k("runtime", device_id), mapping=encoded)

    # Presence
    async def set_presence(self, device_id: str, presence: Presence, ttl_s: float) -> None:
        ttl_ms = max(1, round(ttl_s * 1000))
        await self._r.set(self._k("presence", device_id), _encoder.encode(presence), px=ttl_ms)

    async def get_presence(self, device_id: str) -> Presence | None:
        raw = await self._r.get(self._k("presence", device_id))
        return None if raw is None else _presence_decoder.decode(raw)

    async def clear_presence(self, device_id: str, instance_id: str) -> None:
        await self._delete_owned_presence(device_id, "instance_id", instance_id)

    async def claim_presence(self, device_id: str, presence: Presence, ttl_s: float) -> Presence | None:
        """SET … GET: the new owner is written and the old one read in one atomic command."""
        ttl_ms = max(1, round(ttl_s * 1000))
        raw = await self._r.set(
            self._k("presence", device_id), _encoder.encode(presence), px=ttl_ms, get=True
        )
        return None if raw is None else _presence_decoder.decode(cast(bytes, raw))

    async def refresh_presence(self, device_id: str, presence: Presence, ttl_s: float) -> bool:
        ttl_ms = max(1, round(ttl_s * 1000))
        args: list[EncodableT] = [_encoder.encode(presence), presence.connection_id, ttl_ms]
        return bool(await self._scripts.refresh_presence(keys=[self._k("presence", device_id)], args=args))

    async def release_presence(self, device_id: str, connection_id: str) -> None:
        await self._delete_owned_presence(device_id, "connection_id", connection_id)

    # Token revocation
    async def revoke_token(self, jti: str, until: datetime) -> None:
        ttl_ms = round((until.timestamp() - time.time()) * 1000)
        if ttl_ms > 0:
            await self._r.set(self._k("revoked", jti), b"1", px=ttl_ms)

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._r.exists(self._k("revoked", jti)))

    async def check_token(
        self, jti: str, *, device_id: str | None, count: RateCount | None = None
    ) -> TokenCheck:
        keys = [self._k("revoked", jti)]
        if device_id is not None:
            keys.append(self._k("device", device_id))
        args: list[EncodableT] = [jti, "operator" if device_id is None else "device", 0]
        reset_in_s = 0.0
        if count is not None:
            counter, reset_in_s = self._window(count.key, count.window_s)
            keys.append(counter)
            args[2] = math.ceil(reset_in_s) + 1
        standing, *counted = await self._scripts.check_token(keys=keys, args=args)
        window = RateWindow(count=counted[0], reset_in_s=reset_in_s) if counted else None
        return TokenCheck(standing=cast(TokenStanding, standing.decode()), window=window)

    # Sessions and their context
    async def add_session(self, session: SessionRecord) -> None:
        if await self._write_session(session, only_existing=False):
            await self._prune_index(self._k("sessions"))
            await self._prune_index(self._k("sessions:dev", session.device_id))

    async def replace_session(self, session: SessionRecord) -> None:
        """Overwrite a known session; a no-op for one unknown or past its retention."""
        await self._write_session(session, only_existing=True)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        raw = await self._r.get(self._k("session", session_id))
        return None if raw is None else _session_decoder.decode(raw)

    async def list_sessions(self, device_id: str | None = None) -> list[SessionRecord]:
        """Read the index in order; entries whose session is gone (or moved away) leave it."""
        index = self._k("sessions") if device_id is None else self._k("sessions:dev", device_id)
        ids = _members(await self._r.zrange(index, 0, -1))
        if not ids:
            return []
        raws = await self._r.mget([self._k("session", i) for i in ids])
        sessions, stale = [], []
        for session_id, raw in zip(ids, raws, strict=True):
            session = None if raw is None else _session_decoder.decode(raw)
            if session is None or (device_id is not None and session.device_id != device_id):
                stale.append(session_id)
            else:
                sessions.append(session)
        if stale:
            await self._r.zrem(index, *stale)
        return sessions

    async def append_context(self, session_id: str, messages: list[ChatMessage], keep_last: int) -> None:
        """Append and trim in one step; the context expires with its session (or after the retention)."""
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        if messages:
            keys = [self._k("ctx", session_id), self._k("session", session_id)]
            args: list[EncodableT] = [keep_last, self._retention_s * 1000]
            args += [_encoder.encode(m) for m in messages]
            await self._scripts.append_context(keys=keys, args=args)

    async def get_context(self, session_id: str) -> list[ChatMessage]:
        raws = cast(list[bytes], await self._r.lrange(self._k("ctx", session_id), 0, -1))
        return [_chat_decoder.decode(raw) for raw in raws]

    async def clear_context(self, session_id: str) -> None:
        await self._r.delete(self._k("ctx", session_id))

    async def set_pause_profile(self, session_id: str, profile: PauseProfile) -> None:
        """Replace it in one step; it expires with its session (or after the retention), as the context."""
        keys = [self._k("pauses", session_id), self._k("session", session_id)]
        await self._scripts.set_pauses(keys=keys, args=[_encoder.encode(profile), self._retention_s * 1000])

    async def get_pause_profile(self, session_id: str) -> PauseProfile | None:
        raw = await self._r.get(self._k("pauses", session_id))
        return None if raw is None else _pauses_decoder.decode(raw)

    # Rate limits
    async def hit(self, key: str, window_s: int) -> RateWindow:
        """Fixed windows aligned on the epoch, so every instance counts in the same one."""
        counter, reset_in_s = self._window(key, window_s)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, math.ceil(reset_in_s) + 1)
            count, _ = await pipe.execute()
        return RateWindow(count=count, reset_in_s=reset_in_s)

    # Metrics
    async def record_interaction(self, device_id: str, latency_ms: float, at: datetime) -> None:
        key = self._metrics_key(device_id, _utc_day(at))
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "interactions", 1)
            pipe.hincrbyfloat(key, "latency_ms_total", latency_ms)
            pipe.expire(key, (self._metrics_days + 1) * 86400)
            await pipe.execute()

    async def get_day_metrics(self, device_id: str, day: date) -> DayMetrics:
        key = self._metrics_key(device_id, day)
        interactions, latency = await self._r.hmget(key, ["interactions", "latency_ms_total"])
        return DayMetrics(day=day, interactions=int(interactions or 0), latency_ms_total=float(latency or 0))

    # Commands and activities
    async def save_command(self, command: CommandRecord, ttl_s: int) -> None:
        await self._r.set(self._k("command", command.command_id), _encoder.encode(command), ex=ttl_s)

    async def get_command(self, command_id: str) -> CommandRecord | None:
        raw = await self._r.get(self._k("command", command_id))
        return None if raw is None else _command_decoder.decode(raw)

    async def put_blob(self, blob_id: str, data: bytes, ttl_s: int) -> None:
        await self._r.set(self._k("blob", blob_id), data, ex=ttl_s)

    async def get_blob(self, blob_id: str) -> bytes | None:
        raw = await self._r.get(self._k("blob", blob_id))
        return None if raw is None else bytes(raw, "latin-1") if isinstance(raw, str) else raw

    async def delete_blob(self, blob_id: str) -> None:
        await self._r.delete(self._k("blob", blob_id))

    async def save_activity(
        self,
        activity: ActivityRecord,
        *,
        sessions: Sequence[SessionRecord] = (),
        runtimes: Sequence[RuntimeChange] = (),
        commands: Sequence[CommandRecord] = (),
        command_ttl_s: int = 0,
    ) -> None:
        """One MULTI/EXEC: no instance sees the activity without its sessions, or the reverse."""
        key = self._k("activity", activity.activity_id)
        async with self._r.pipeline(transaction=True) as pipe:
            if activity.ended_at is None:
                pipe.set(key, _encoder.encode(activity))
            else:
                kept_s = activity.ended_at.timestamp() - time.time() + self._retention_s
                pipe.set(key, _encoder.encode(activity), px=max(1, round(kept_s * 1000)))
            pipe.zadd(self._k("activities"), {activity.activity_id: activity.started_at.timestamp()})
            for session in sessions:
                await self._write_session(session, only_existing=False, pipe=pipe)
            for change in runtimes:
                fields: dict[FieldT, EncodableT] = {
                    "active_persona_id": _encoder.encode(change.active_persona_id),
                    "active_session_id": _encoder.encode(change.active_session_id),
                }
                if change.last_activity is not None:
                    fields["last_activity"] = _encoder.encode(change.last_activity)
                pipe.hset(self._k("runtime", change.device_id), mapping=fields)
            for command in commands:
                pipe.set(self._k("command", command.command_id), _encoder.encode(command), ex=command_ttl_s)
            await pipe.execute()

    async def get_activity(self, activity_id: str) -> ActivityRecord | None:
        raw = await self._r.get(self._k("activity", activity_id))
        return None if raw is None else _activity_decoder.decode(raw)

    async def list_activities(self) -> list[ActivityRecord]:
        """Read the index in order; entries whose activity is gone (past its retention) leave it."""
        index = self._k("activities")
        ids = _members(await self._r.zrange(index, 0, -1))
        if not ids:
            return []
        raws = await self._r.mget([self._k("activity", i) for i in ids])
        stale = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if stale:
            await self._r.zrem(index, *stale)
        return [_activity_decoder.decode(raw) for raw in raws if raw is not None]

    async def save_commands(self, commands: Sequence[CommandRecord], ttl_s: int) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.set(self._k("command", command.command_id), _encoder.encode(command), ex=ttl_s)
            await pipe.execute()

    async def get_devices(self, device_ids: Sequence[str]) -> list[DeviceRecord | None]:
        raws = await self._mget("device", device_ids)
        return [None if raw is None else _device_decoder.decode(raw) for raw in raws]

    async def get_presences(self, device_ids: Sequence[str]) -> list[Presence | None]:
        raws = await self._mget("presence", device_ids)
        return [None if raw is None else _presence_decoder.decode(raw) for raw in raws]

    async def get_runtimes(self, device_ids: Sequence[str]) -> list[DeviceRuntime]:
        async with self._r.pipeline(transaction=False) as pipe:
            for device_id in device_ids:
                pipe.hgetall(self._k("runtime", device_id))
            replies = await pipe.execute()
        return [_runtime(cast(dict[bytes, bytes], fields).items()) for fields in replies]

    async def get_sessions(self, session_ids: Sequence[str]) -> list[SessionRecord | None]:
        raws = await self._mget("session", session_ids)
        return [None if raw is None else _session_decoder.decode(raw) for raw in raws]

    async def _mget(self, kind: str, names: Sequence[str]) -> list[bytes | None]:
        if not names:
            return []
        raws = await self._r.mget([self._k(kind, name) for name in names])
        return cast(list[bytes | None], raws)  # the client does not decode responses

    async def _delete_owned_presence(self, device_id: str, field: str, owner: str) -> None:
        await self._scripts.delete_owned_presence(keys=[self._k("presence", device_id)], args=[field, owner])

    def _window(self, key: str, window_s: int) -> tuple[str, float]:
        """The counter of `key`'s current window (aligned on the epoch, so every instance counts in
        the same one), and the seconds until it ends."""
        now = time.time()
        index = int(now // window_s)
        return self._k("rl", f"{key}:{index}"), (index + 1) * window_s - now

    def _k(self, kind: str, name: str = "") -> str:
        return f"{self._p}{kind}:{name}" if name else f"{self._p}{kind}"

    def _metrics_key(self, device_id: str, day: date) -> str:
        return self._k("metrics", f"{device_id}:{day.isoformat()}")

    async def _write_session(
        self, session: SessionRecord, *, only_existing: bool, pipe: Pipeline | None = None
    ) -> bool:
        """Write the session (indexed, until `retention_s` past its expiry); False if not written.
        With `pipe`, the write is queued on it (and True means only that it was queued)."""
        key = self._k("session", session.session_id)
        ttl_ms = round((session.expires_at.timestamp() - time.time() + self._retention_s) * 1000)
        if ttl_ms <= 0:  # Already past its retention: there is nothing left to keep.
            if pipe is not None:
                pipe.delete(key)
            else:
                await self._r.delete(key)
            return False
        keys = [key, self._k("ctx", session.session_id), self._k("sessions")]
        keys += [self._k("sessions:dev", session.device_id), self._k("pauses", session.session_id)]
        args: list[EncodableT] = [_encoder.encode(session), ttl_ms, session.created_at.timestamp()]
        args += [session.session_id, "XX" if only_existing else ""]
        if pipe is not None:
            await self._scripts.put_session(keys=keys, args=args, client=pipe)
            return True
        return bool(await self._scripts.put_session(keys=keys, args=args))

    async def _prune_index(self, index: str) -> None:
        """Drop a random sample of the index's entries whose session expired."""
        ids = _members(await self._r.zrandmember(index, _PRUNE_SAMPLE))
        if not ids:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.exists(self._k("session", session_id))
            exists = await pipe.execute()
        dead = [session_id for session_id, found in zip(ids, exists, strict=True) if not found]
        if dead:
            await self._r.zrem(index, *dead)


def _runtime(fields: Iterable[tuple[bytes, bytes]]) -> DeviceRuntime:
    """A runtime from its hash's fields (each value JSON)."""
    members = b",".join(b'"%s":%s' % item for item in fields)
    return _runtime_decoder.decode(b"{" + members + b"}")


def _members(reply: Any) -> list[str]:
    """The members of a sorted-set reply (bytes: the client does not decode responses)."""
    return [member.decode() for member in reply or ()]


def _utc_day(at: datetime) -> date:
    """The UTC calendar day of `at` (a naive datetime counts as UTC)."""
    return at.date() if at.tzinfo is None else at.astimezone(UTC).date()
