"""Rate limits in fixed one-minute windows, counted in the store so they hold across instances; and
work that one device may have in progress at once on this instance (its share of the shared models)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator

from server.auth import Principal
from server.errors import ApiError, RateLimited
from server.settings import Settings
from server.state.base import Store
from server.state.records import RateCount, RateWindow

WINDOW_S = 60
HOUR_S = 3600


class RateLimiter:
    def __init__(self, *, store: Store, settings: Settings) -> None:
        self._store = store
        self._per_role = {
            "device": settings.device_requests_per_minute,
            "operator": settings.operator_requests_per_minute,
        }
        self._dialog_limit = settings.dialog_turns_per_minute
        self._sessions_per_hour = settings.sessions_per_device_per_hour
        self._in_progress: set[str] = set()

    def request_count(self, principal: Principal) -> RateCount | None:
        """The hit one API request of `principal` counts (made with its token check, in the same store
        call: `TokenService.check_standing`); None if its role is not limited."""
        if not self._per_role[principal.role]:
            return None
        return RateCount(key=f"req:{principal.role}:{principal.subject}", window_s=WINDOW_S)

    def judge_request(self, principal: Principal, window: RateWindow | None) -> None:
        """`RateLimited` if the request counted in `window` is past its role's limit."""
        if window is not None:
            self._judge(window, self._per_role[principal.role], scope=f"{principal.role} requests")

    async def check_dialog_turn(self, device_id: str) -> None:
        """Count one dialog turn of a device (REST or WebSocket); `RateLimited` past the limit."""
        if self._dialog_limit:
            await self._hit(f"dialog:{device_id}", self._dialog_limit, scope="dialog turns per device")

    async def check_session_creation(self, device_id: str) -> None:
        """Count one new session of a device; `RateLimited` (429) past its sessions per hour."""
        if self._sessions_per_hour:
            window = await self._store.hit(f"sessions:{device_id}", HOUR_S)
            if window.count > self._sessions_per_hour:
                raise SessionsPerHourLimited(
                    limit=self._sessions_per_hour, retry_after_s=max(1, math.ceil(window.reset_in_s))
                )

    @contextlib.asynccontextmanager
    async def one_at_a_time(self, key: str, *, scope: str) -> AsyncIterator[None]:
        """Hold `key` while the block runs; `Busy` (429) if it is already held on this instance."""
        if key in self._in_progress:
            raise Busy(scope)
        self._in_progress.add(key)
        try:
            yield
        finally:
            self._in_progress.discard(key)

    async def _hit(self, key: str, limit: int, *, scope: str) -> None:
        self._judge(await self._store.hit(key, WINDOW_S), limit, scope=scope)

    def _judge(self, window: RateWindow, limit: int, *, scope: str) -> None:
        if limit and window.count > limit:
            raise RateLimited(scope=scope, limit=limit, retry_after_s=max(1, math.ceil(window.reset_in_s)))


class Busy(ApiError):
    """The device already has this kind of work in progress: one at a time, so one device cannot queue
    up the shared models' time. A 429 like any limit, in the spec's error body."""

    status_code = 429
    error_code = "RATE_LIMITED"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"Too many requests: one at a time ({scope}); retry when the previous one is answered",
            details={"scope": scope, "limit_at_once": 1, "retry_after_s": 1},
            headers={"Retry-After": "1"},
        )


class SessionsPerHourLimited(ApiError):
    """The device opened as many sessions this hour as it may (each is kept a day, with its metadata)."""

    status_code = 429
    error_code = "RATE_LIMITED"

    def __init__(self, *, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"Too many requests: the limit is {limit} new sessions per hour per device",
            details={"scope": "sessions per device", "limit_per_hour": limit, "retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )
