"""Where alerts are kept: `AlertStore`, in memory or in Redis, bounded in number and age.

Redis (under the key prefix): a HASH `alerts` (id → the record as JSON) and a ZSET
`alerts:time` (id by creation time). Each add trims what is past `max_age_s` or beyond the
newest `max_alerts`, so the store never grows past its bound whatever residents say.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis

from server.alerts.records import AlertRecord
from server.state.redis_errors import CONNECT_TIMEOUT_S, REPLY_TIMEOUT_S, translate_outages

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AlertRecord)


class AlertStore(Protocol):
    async def add(self, alert: AlertRecord) -> None:
        """Keep `alert` (the oldest ones past the bounds go)."""
        ...

    async def replace(self, alert: AlertRecord) -> bool:
        """Rewrite a kept alert; False if it is no longer kept."""
        ...

    async def get(self, alert_id: str) -> AlertRecord | None: ...

    async def all(self) -> list[AlertRecord]:
        """Every alert kept (at most `max_alerts`), oldest first."""
        ...

    async def close(self) -> None: ...


class MemoryAlertStore:
    def __init__(self, *, max_alerts: int, max_age_s: int) -> None:
        self._alerts: dict[str, AlertRecord] = {}
        self._max = max_alerts
        self._max_age_s = max_age_s

    async def add(self, alert: AlertRecord) -> None:
        self._alerts[alert.alert_id] = alert
        oldest = datetime.now(UTC).timestamp() - self._max_age_s
        for kept in list(self._alerts.values()):
            if kept.created_at.timestamp() >= oldest and len(self._alerts) <= self._max:
                break
            del self._alerts[kept.alert_id]

    async def replace(self, alert: AlertRecord) -> bool:
        if alert.alert_id not in self._alerts:
            return False
        self._alerts[alert.alert_id] = alert
        return True

    async def get(self, alert_id: str) -> AlertRecord | None:
        return self._alerts.get(alert_id)

    async def all(self) -> list[AlertRecord]:
        return sorted(self._alerts.values(), key=lambda a: (a.created_at, a.alert_id))

    async def close(self) -> None:
        return None


@translate_outages
class RedisAlertStore:
    def __init__(self, client: Redis, *, key_prefix: str, max_alerts: int, max_age_s: int) -> None:
        self._r = client
        self._hash = f"{key_prefix}alerts"
        self._times = f"{key_prefix}alerts:time"
        self._max = max_alerts
        self._max_age_s = max_age_s

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str, max_alerts: int, max_age_s: int) -> RedisAlertStore:
        client = Redis.from_url(url, socket_timeout=REPLY_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
        return cls(client, key_prefix=key_prefix, max_alerts=max_alerts, max_age_s=max_age_s)

    async def add(self, alert: AlertRecord) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._hash, alert.alert_id, _encoder.encode(alert))
            pipe.zadd(self._times, {alert.alert_id: alert.created_at.timestamp()})
            await pipe.execute()
        await self._trim()

    async def _trim(self) -> None:
        oldest = datetime.now(UTC).timestamp() - self._max_age_s
        expired: Any = await self._r.zrangebyscore(self._times, "-inf", f"({oldest}")
        beyond: Any = await self._r.zrange(self._times, 0, -(self._max + 1))
        gone: Sequence[bytes] = sorted(set(expired) | set(beyond))
        if gone:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hdel(self._hash, *gone)
                pipe.zrem(self._times, *gone)
                await pipe.execute()

    async def replace(self, alert: AlertRecord) -> bool:
        if await self._r.zscore(self._times, alert.alert_id) is None:
            return False
        await self._r.hset(self._hash, alert.alert_id, _encoder.encode(alert))
        return True

    async def get(self, alert_id: str) -> AlertRecord | None:
        data = await self._r.hget(self._hash, alert_id)
        return None if data is None else _decoder.decode(data)

    async def all(self) -> list[AlertRecord]:
        ids: Any = await self._r.zrange(self._times, 0, -1)
        if not ids:
            return []
        found = await self._r.hmget(self._hash, ids)
        return [_decoder.decode(data) for data in found if data is not None]

    async def close(self) -> None:
        await self._r.aclose()
