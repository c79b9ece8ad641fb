"""`RedisEventLog`: the operator event log as one capped Redis stream, shared by every instance.

`XADD <prefix>events MAXLEN ~ retention`: Redis trims whole nodes, so a little more than
`retention` entries may be kept, never fewer. A client reconnecting to any instance, or after
an instance restarts, resumes after its `Last-Event-ID` from the stream itself. `XINFO STREAM`'s
`max-deleted-entry-id` (Redis 7) tells whether entries after that id were trimmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.events.log import ZERO_ID, Bounds
from server.state.redis_errors import translate_outages

_FIELD = b"e"


@translate_outages
class RedisEventLog:
    def __init__(self, client: Redis, *, key_prefix: str, retention: int, close_client: bool = False) -> None:
        self._r = client
        self._key = f"{key_prefix}events"
        self._retention = retention
        self._close_client = close_client

    @classmethod
    def from_url(cls, url: str, *, key_prefix: str, retention: int) -> RedisEventLog:
        # Longer than `tail`'s blocking read, which holds its connection that long.
        client = Redis.from_url(url, socket_timeout=15, socket_connect_timeout=2)
        return cls(client, key_prefix=key_prefix, retention=retention, close_client=True)

    async def append(self, entries: Sequence[bytes]) -> list[str]:
        async with self._r.pipeline(transaction=False) as pipe:
            for data in entries:
                pipe.xadd(self._key, {_FIELD: data}, maxlen=self._retention, approximate=True)
            ids = await pipe.execute()
        return [_text(i) for i in ids]

    async def after(self, last_id: str, limit: int) -> list[tuple[str, bytes]]:
        found: Any = await self._r.xrange(self._key, min=f"({last_id}", max="+", count=limit)
        return [(_text(i), fields[_FIELD]) for i, fields in found]

    async def tail(self, after_id: str, timeout_s: float) -> list[tuple[str, bytes]]:
        found: Any = await self._r.xread({self._key: after_id}, count=1000, block=int(timeout_s * 1000))
        if not found:
            return []
        return [(_text(i), fields[_FIELD]) for i, fields in found[0][1]]

    async def bounds(self) -> Bounds:
        info: Any
        try:
            info = await self._r.xinfo_stream(self._key)
        except ResponseError as exc:  # no such key yet: an empty log
            if "no such key" not in str(exc).lower():
                raise
            info = None
        if info is None:
            return Bounds(first_id=None, last_id=ZERO_ID, max_deleted_id=ZERO_ID)
        first = info.get("first-entry") or info.get(b"first-entry")
        last = info.get("last-generated-id") or info.get(b"last-generated-id") or ZERO_ID
        deleted = info.get("max-deleted-entry-id") or info.get(b"max-deleted-entry-id") or ZERO_ID
        return Bounds(
            first_id=_text(first[0]) if first else None, last_id=_text(last), max_deleted_id=_text(deleted)
        )

    async def close(self) -> None:
        if self._close_client:
            await self._r.aclose()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
