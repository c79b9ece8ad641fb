"""Which instance runs an activity: a lease in the store, held by one instance at a time.

An instance claims the lease of a running activity no instance holds (`claim`: set if absent, for
`ttl_s`), keeps it while it runs the game (`renew`, only while still its own) and lets go when the
game ends (`release`, only its own). An instance that dies stops renewing; once its lease lapses,
another instance claims it and continues the game from the store. With Redis: a key
`activity-lease:{id}` holding the instance id (SET NX PX; renew and release by Lua scripts that
compare the holder first). In memory, the same on one process.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from redis.asyncio import Redis

from server.state.redis_errors import CONNECT_TIMEOUT_S, REPLY_TIMEOUT_S, translate_outages

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Leases(Protocol):
    async def claim(self, activity_id: str, holder: str, ttl_s: float) -> bool: ...

    async def renew(self, activity_id: str, holder: str, ttl_s: float) -> bool:
        """Extend the lease if `holder` still holds it; False if it lapsed or another holds it."""
        ...

    async def release(self, activity_id: str, holder: str) -> None: ...

    async def close(self) -> None: ...


class MemoryLeases:
    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    def _holder(self, activity_id: str) -> str | None:
        held = self._held.get(activity_id)
        if held is None or held[1] <= time.monotonic():
            return None
        return held[0]

    async def claim(self, activity_id: str, holder: str, ttl_s: float) -> bool:
        if self._holder(activity_id) is not None:
            return False
        self._held[activity_id] = (holder, time.monotonic() + ttl_s)
        return True

    async def renew(self, activity_id: str, holder: str, ttl_s: float) -> bool:
        if self._holder(activity_id) != holder:
            return False
        self._held[activity_id] = (holder, time.monotonic() + ttl_s)
        return True

    async def release(self, activity_id: str, holder: str) -> None:
        if self._holder(activity_id) == holder:
            del self._held[activity_id]

    async def close(self) -> None:
        return None


@translate_outages
class RedisLeases:
    def __init__(self, client: Redis, *, key_prefix: str) -> None:
        self._r = client
        self._prefix = f"{key_prefix}activity-lease:"
        self._renew: Any = client.register_script(_RENEW)
        self._release: Any = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str) -> RedisLeases:
        client = Redis.from_url(url, socket_timeout=REPLY_TIMEOUT_S, socket_connect_timeout=CONNECT_TIMEOUT_S)
        return cls(client, key_prefix=key_prefix)

    async def claim(self, activity_id: str, holder: str, ttl_s: float) -> bool:
        return bool(await self._r.set(self._prefix + activity_id, holder, nx=True, px=round(ttl_s * 1000)))

    async def renew(self, activity_id: str, holder: str, ttl_s: float) -> bool:
        return bool(await self._renew(keys=[self._prefix + activity_id], args=[holder, round(ttl_s * 1000)]))

    async def release(self, activity_id: str, holder: str) -> None:
        await self._release(keys=[self._prefix + activity_id], args=[holder])

    async def close(self) -> None:
        await self._r.aclose()
