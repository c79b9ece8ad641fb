"""Start-up check: the Redis the server shares its state through must keep that state on disk.

Device tokens fail closed (server/auth.py): a Redis that loses its data also loses every
device, so no revoked token comes back, but every device is then locked out until it is
registered again. A Redis that only snapshots (RDB) goes back to its last snapshot when it
restarts: a token rotated, or a device deregistered, since then is valid again. So by default
(`COMPANION_REDIS_REQUIRE_PERSISTENCE=aof`) the server refuses to start unless the append-only
file is on; `any` also accepts snapshots alone and `none` accepts a Redis that keeps nothing,
each with a warning in the log at every start.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

__all__ = ["PersistenceRequirement", "RedisPersistence", "RedisPersistenceError", "check_redis_persistence"]

log = logging.getLogger(__name__)

PersistenceRequirement = Literal["aof", "any", "none"]

_PROBE_TIMEOUT_S = 5.0


class RedisPersistence(msgspec.Struct, frozen=True):
    """What a Redis server writes to disk, so that its data outlives its restart."""

    aof: bool
    """The append-only file is on: every write is logged (fsynced once a second by default)."""
    snapshots: bool | None
    """RDB save points are configured (a restart goes back to the last snapshot); None: unknown
    (CONFIG is refused, as some managed Redis services do)."""


class RedisPersistenceError(Exception):
    """The Redis does not keep what `COMPANION_REDIS_REQUIRE_PERSISTENCE` asks for: start-up stops."""


async def probe(url: str) -> RedisPersistence:
    """Ask the Redis at `url` what it persists (INFO persistence, CONFIG GET save)."""
    client = Redis.from_url(url, socket_connect_timeout=_PROBE_TIMEOUT_S, socket_timeout=_PROBE_TIMEOUT_S)
    try:
        info = await client.info("persistence")
        snapshots: bool | None
        try:
            config = await client.config_get("save")
        except ResponseError:
            snapshots = None
        else:
            value = next(iter(config.values()), b"")
            snapshots = bool((value.decode() if isinstance(value, bytes) else str(value)).strip())
        return RedisPersistence(aof=bool(int(info.get("aof_enabled", 0))), snapshots=snapshots)
    finally:
        await client.aclose()


async def check_redis_persistence(url: str, requirement: PersistenceRequirement) -> RedisPersistence:
    """Refuse (`RedisPersistenceError`) a Redis that does not persist as required; warn where it is
    explicitly allowed to persist less than the append-only file."""
    found = await probe(url)
    if found.aof:
        return found
    if found.snapshots and requirement in ("any", "none"):
        log.warning(
            "Redis persists RDB snapshots only: after a Redis restart, tokens rotated and devices "
            "deregistered since its last snapshot are valid again (COMPANION_REDIS_REQUIRE_PERSISTENCE=%s)",
            requirement,
        )
        return found
    if requirement == "none":
        log.warning(
            "Redis keeps NOTHING across its restart (no AOF%s): every device, session and token is then "
            "lost and every device must be registered again (COMPANION_REDIS_REQUIRE_PERSISTENCE=none)",
            ", snapshots unknown" if found.snapshots is None else ", no RDB snapshots",
        )
        return found
    wanted = "the append-only file (appendonly yes)" if requirement == "aof" else "AOF or RDB snapshots"
    raise RedisPersistenceError(
        f"Redis does not persist its data: COMPANION_REDIS_REQUIRE_PERSISTENCE={requirement} needs {wanted} "
        f"(found: aof={'on' if found.aof else 'off'}, snapshots="
        f"{'unknown' if found.snapshots is None else 'on' if found.snapshots else 'off'}). Turn it on "
        "(redis-cli CONFIG SET appendonly yes, and in redis.conf), or set "
        "COMPANION_REDIS_REQUIRE_PERSISTENCE=none to run without it."
    )
