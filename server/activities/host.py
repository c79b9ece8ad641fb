"""Runs the trivia and story activities on this instance, whichever instance started them.

Every `SWEEP_S` the host lists the running activities; for each trivia or story activity whose
lease no instance holds, it claims the lease and runs the game (server/activities/lease.py). While
it runs, the lease is renewed every third of `LEASE_S`; if a renewal fails (the store away too long,
or another instance took it over), the game stops here at once. So a game runs on exactly one
instance at a time; if that instance dies, another continues it within `LEASE_S` + `SWEEP_S`, from
where the store says it stood (a question being asked is asked again if its window had not been
opened; an open window is collected; a scored round is not scored twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from server.activities.banks import Banks, shipped_banks
from server.activities.config import RUN_TYPES, ConfigError
from server.activities.game import Game
from server.activities.lease import Leases, MemoryLeases
from server.activities.live_stage import LiveStage
from server.activities.stage import Stage
from server.activities.story_game import StoryGame
from server.activities.trivia_game import TriviaGame
from server.live.changes import LiveChanges
from server.state.errors import StoreUnreachable
from server.state.records import ActivityRecord

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

SWEEP_S = 0.5
LEASE_S = 6.0
RETRY_S = 5.0
"""After a game failed on this instance (the store away), how long before it is tried again."""


def make_game(activity: ActivityRecord, *, services: Services, stage: Stage, banks: Banks) -> Game:
    kind = TriviaGame if activity.activity_type == "trivia" else StoryGame
    return kind(store=services.store, stage=stage, activity=activity, banks=banks)


class GameHost:
    def __init__(
        self, services: Services, *, leases: Leases | None = None, banks: Banks | None = None
    ) -> None:
        self._services = services
        self._leases = leases or _leases_for(services)
        self._banks = banks or shipped_banks()
        self._holder = services.settings.instance_id
        self._stage = LiveStage(
            store=services.store,
            bus=services.bus,
            commands=services.commands,
            changes=LiveChanges(bus=services.bus),
            activities=services.activities,
            events=services.events,
            voice_enabled=services.voice is not None,
        )
        self._games: dict[str, asyncio.Task[None]] = {}
        self._resting: dict[str, float] = {}
        self._sweep: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sweep = asyncio.create_task(self._sweep_loop(), name="activity-sweep")

    async def close(self) -> None:
        tasks = [t for t in (self._sweep, *self._games.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._leases.close()

    @property
    def running(self) -> list[str]:
        """The activities this instance runs now."""
        return sorted(self._games)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self._pick_up()
            except StoreUnreachable:
                log.warning("activity sweep: the store is unreachable; trying again")
            await asyncio.sleep(SWEEP_S)

    async def _pick_up(self) -> None:
        now = time.monotonic()
        for activity in await self._services.store.list_activities():
            activity_id = activity.activity_id
            if (
                activity.status != "running"
                or activity.activity_type not in RUN_TYPES
                or activity_id in self._games
                or self._resting.get(activity_id, 0.0) > now
            ):
                continue
            if await self._leases.claim(activity_id, self._holder, LEASE_S):
                task = asyncio.create_task(self._run(activity), name=f"activity-{activity_id}")
                self._games[activity_id] = task

    async def _run(self, activity: ActivityRecord) -> None:
        activity_id = activity.activity_id
        game = make_game(activity, services=self._services, stage=self._stage, banks=self._banks)
        play = asyncio.create_task(game.run(), name=f"game-{activity_id}")
        keep = asyncio.create_task(self._keep_lease(activity_id, play), name=f"lease-{activity_id}")
        try:
            await play
        except asyncio.CancelledError:
            if not play.cancelled():
                raise
            log.warning("activity %s: lease lost; another instance continues it", activity_id)
        except ConfigError:  # its config cannot be played (written around the start's checks)
            log.warning("activity %s: config cannot be played; stopping it", activity_id)
            await self._stage.finish(activity_id)
        except Exception as exc:
            log.warning(
                "activity %s failed here (%s); retried in %g s", activity_id, type(exc).__name__, RETRY_S
            )
            self._resting[activity_id] = time.monotonic() + RETRY_S
        finally:
            play.cancel()
            keep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keep
            with contextlib.suppress(Exception):
                await self._leases.release(activity_id, self._holder)
            self._games.pop(activity_id, None)

    async def _keep_lease(self, activity_id: str, play: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(LEASE_S / 3)
            try:
                kept = await self._leases.renew(activity_id, self._holder, LEASE_S)
            except StoreUnreachable:
                continue  # the lease may still stand; if it lapses, the next renewal says so
            if not kept:
                play.cancel()
                return


def _leases_for(services: Services) -> Leases:
    settings = services.settings
    if settings.redis_url:
        from server.activities.lease import RedisLeases

        return RedisLeases.from_url(settings.redis_url, key_prefix=settings.redis_key_prefix)
    return MemoryLeases()
