"""Redis's failures to answer, translated at the edge of the state layer into `StoreUnreachable`.

Callers above the state layer never see a redis-py exception: REST answers `STORE_UNAVAILABLE`
(503, `Retry-After`), a device socket stays open, and the voice loop keeps its writes for later
(server/state/catch_up.py). redis-py reconnects by itself on the next call once Redis answers.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.state.errors import StoreUnreachable

__all__ = ["CONNECT_TIMEOUT_S", "OUTAGES", "REPLY_TIMEOUT_S", "translate_outages"]

OUTAGES: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
"""Redis down, restarting (`BusyLoadingError` is a `ConnectionError`), unreachable or hung. Replies
Redis did give (a script error, a wrong type) are bugs, not outages, and stay as they are."""

CONNECT_TIMEOUT_S = 2.0
"""How long a (re)connection may take before the call fails as unreachable."""
REPLY_TIMEOUT_S = 5.0
"""How long a store call waits for Redis's reply (a hung Redis fails calls instead of stalling them).
Not for the bus's client: its BLPOP waits longer than this by design."""

_C = TypeVar("_C", bound=type)


def translate_outages(cls: _C) -> _C:
    """Class decorator: every public coroutine method raises `StoreUnreachable` for an outage."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, _translated(member))
    return cls


def _translated(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except OUTAGES as exc:
            # The cause names only the address and the socket error; said in the message, not chained.
            raise StoreUnreachable(f"{type(exc).__name__}: {exc}") from None

    return call
