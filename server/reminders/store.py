"""Where reminders are kept: `ReminderStore`, in memory or in Redis; schedules survive restarts.

Redis (under the key prefix): a HASH `reminders` (id → the record as JSON); a ZSET `reminders:due`
(id → when the scheduler must next look at it: its next occurrence, the end of a window, a retry);
a SET `reminders:awaiting:{device_id}` of the reminders said on that device and waiting for a spoken
confirmation; and a key `reminders:said:{id}:{due}` per occurrence said.

Firing once across instances takes two claims. `claim_due` (one Lua script) takes the ids that are
due and pushes their score `lease_s` ahead in the same step, so no other instance takes them until
the lease runs out (an instance that dies holding one leaves it to the next after the lease). Saving
the record sets the next score. And before an occurrence is said, `claim_once` (SET NX, kept a day)
takes its key: even if a lease ran out while an instance was still saying it, nobody says it twice.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis

from server.reminders.records import ReminderRecord
from server.state.redis_errors import CONNECT_TIMEOUT_S, REPLY_TIMEOUT_S, translate_outages

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ReminderRecord)

_CLAIM_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""
_SAVE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[1])
else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""


class ReminderStore(Protocol):
    async def count(self) -> int: ...

    async def add(self, record: ReminderRecord, due: float) -> None:
        """Keep a new reminder, to be looked at from `due` (a UNIX time) on."""
        ...

    async def save(self, record: ReminderRecord, due: float | None) -> bool:
        """Rewrite a kept reminder and when it is next looked at (None: never); False if deleted."""
        ...

    async def get(self, reminder_id: str) -> ReminderRecord | None: ...

    async def all(self) -> list[ReminderRecord]: ...

    async def delete(self, reminder_id: str) -> bool: ...

    async def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]:
        """Ids due by `now`, each leased to the caller for `lease_s` (nobody else gets them meanwhile)."""
        ...

    async def next_due(self) -> float | None:
        """The earliest time any reminder must be looked at."""
        ...

    async def claim_once(self, key: str, ttl_s: int) -> bool:
        """True for the first caller with `key` (within `ttl_s`), False for every other."""
        ...

    async def release_once(self, key: str) -> None:
        """Give `key` up (what it was taken for did not happen)."""
        ...

    async def await_confirmation(self, device_id: str, reminder_id: str, waiting: bool) -> None: ...

    async def awaiting(self, device_id: str) -> list[str]:
        """Reminders said on `device_id` that wait for a spoken confirmation."""
        ...

    async def close(self) -> None: ...


class MemoryReminderStore:
    def __init__(self) -> None:
        self._records: dict[str, ReminderRecord] = {}
        self._due: dict[str, float] = {}
        self._once: dict[str, float] = {}
        self._awaiting: dict[str, set[str]] = {}

    async def count(self) -> int:
        return len(self._records)

    async def add(self, record: ReminderRecord, due: float) -> None:
        self._records[record.reminder_id] = record
        self._due[record.reminder_id] = due

    async def save(self, record: ReminderRecord, due: float | None) -> bool:
        if record.reminder_id not in self._records:
            return False
        self._records[record.reminder_id] = record
        if due is None:
            self._due.pop(record.reminder_id, None)
        else:
            self._due[record.reminder_id] = due
        return True

    async def get(self, reminder_id: str) -> ReminderRecord | None:
        return self._records.get(reminder_id)

    async def all(self) -> list[ReminderRecord]:
        return list(self._records.values())

    async def delete(self, reminder_id: str) -> bool:
        self._due.pop(reminder_id, None)
        for waiting in self._awaiting.values():
            waiting.discard(reminder_id)
        return self._records.pop(reminder_id, None) is not None

    async def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]:
        ids = sorted((d, i) for i, d in self._due.items() if d <= now)[:limit]
        for _, reminder_id in ids:
            self._due[reminder_id] = now + lease_s
        return [i for _, i in ids]

    async def next_due(self) -> float | None:
        return min(self._due.values(), default=None)

    async def claim_once(self, key: str, ttl_s: int) -> bool:
        now = time.time()
        if self._once.get(key, 0.0) > now:
            return False
        if len(self._once) > 100_000:
            self._once = {k: v for k, v in self._once.items() if v > now}
        self._once[key] = now + ttl_s
        return True

    async def release_once(self, key: str) -> None:
        self._once.pop(key, None)

    async def await_confirmation(self, device_id: str, reminder_id: str, waiting: bool) -> None:
        if waiting:
            self._awaiting.setdefault(device_id, set()).add(reminder_id)
        else:
            self._awaiting.get(device_id, set()).discard(reminder_id)

    async def awaiting(self, device_id: str) -> list[str]:
        return sorted(self._awaiting.get(device_id, set()))

    async def close(self) -> None:
        return None


@translate_outages
class RedisReminderStore:
    def __init__(self, client: Redis, *, key_prefix: str) -> None:
        self._r = client
        self._prefix = key_prefix
        self._hash = f"{key_prefix}reminders"
        self._due = f"{key_prefix}reminders:due"
        self._claim_due = client.register_script(_CLAIM_DUE)
        self._save = client.register_script(_SAVE)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str) -> RedisReminderStore:
        client = Redis.from_url(url, socket_timeout=REPLY_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
        return cls(client, key_prefix=key_prefix)

    async def count(self) -> int:
        found: Any = await self._r.hlen(self._hash)
        return int(found)

    async def add(self, record: ReminderRecord, due: float) -> None:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(self._hash, record.reminder_id, _encoder.encode(record))
            pipe.zadd(self._due, {record.reminder_id: due})
            await pipe.execute()

    async def save(self, record: ReminderRecord, due: float | None) -> bool:
        score = "" if due is None else repr(due)
        saved = await self._save(
            keys=[self._hash, self._due], args=[record.reminder_id, _encoder.encode(record), score]
        )
        return bool(saved)

    async def get(self, reminder_id: str) -> ReminderRecord | None:
        data = await self._r.hget(self._hash, reminder_id)
        return None if data is None else _decoder.decode(data)

    async def all(self) -> list[ReminderRecord]:
        found: Any = await self._r.hvals(self._hash)
        return [_decoder.decode(data) for data in found]

    async def delete(self, reminder_id: str) -> bool:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._hash, reminder_id)
            pipe.zrem(self._due, reminder_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]:
        ids: Any = await self._claim_due(keys=[self._due], args=[repr(now), repr(now + lease_s), limit])
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def next_due(self) -> float | None:
        first: Any = await self._r.zrange(self._due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def claim_once(self, key: str, ttl_s: int) -> bool:
        return bool(await self._r.set(f"{self._prefix}reminders:said:{key}", b"1", nx=True, ex=ttl_s))

    async def release_once(self, key: str) -> None:
        await self._r.delete(f"{self._prefix}reminders:said:{key}")

    async def await_confirmation(self, device_id: str, reminder_id: str, waiting: bool) -> None:
        key = f"{self._prefix}reminders:awaiting:{device_id}"
        if waiting:
            await self._r.sadd(key, reminder_id)
        else:
            await self._r.srem(key, reminder_id)

    async def awaiting(self, device_id: str) -> list[str]:
        found: Any = await self._r.smembers(f"{self._prefix}reminders:awaiting:{device_id}")
        return sorted(i.decode() if isinstance(i, bytes) else str(i) for i in found)

    async def close(self) -> None:
        await self._r.aclose()
