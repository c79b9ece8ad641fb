"""Rate limits in fixed one-minute windows, counted in the store so they hold across instances."""

from __future__ import annotations

import math

from server.auth import Principal
from server.errors import RateLimited
from server.settings import Settings
from server.state.base import Store

WINDOW_S = 60


class RateLimiter:
    def __init__(self, *, store: Store, settings: Settings) -> None:
        self._store = store
        self._per_role = {
            "device": settings.device_requests_per_minute,
            "operator": settings.operator_requests_per_minute,
        }
        self._dialog_limit = settings.dialog_turns_per_minute

    async def check_request(self, principal: Principal) -> None:
        """Count one API request of `principal`; `RateLimited` past its role's limit."""
        limit = self._per_role[principal.role]
        if limit:
            await self._hit(
                f"req:{principal.role}:{principal.subject}", limit, scope=f"{principal.role} requests"
            )

    async def check_dialog_turn(self, device_id: str) -> None:
        """Count one dialog turn of a device (REST or WebSocket); `RateLimited` past the limit."""
        if self._dialog_limit:
            await self._hit(f"dialog:{device_id}", self._dialog_limit, scope="dialog turns per device")

    async def _hit(self, key: str, limit: int, *, scope: str) -> None:
        window = await self._store.hit(key, WINDOW_S)
        if window.count > limit:
            raise RateLimited(scope=scope, limit=limit, retry_after_s=max(1, math.ceil(window.reset_in_s)))
