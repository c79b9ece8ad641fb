"""Publishing a change to a device's session to its live session, wherever that runs, and waiting
for its answer."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from server.errors import ApiError
from server.live.events import SessionEvent
from server.state.base import Bus
from server.state.records import BusMessage, SessionChange

ANSWER_TIMEOUT_S = 5.0
"""How long a change waits for the live session to apply it (a cut reply is stopped well within)."""


def new_event_id() -> str:
    return f"evt_{secrets.token_hex(8)}"


class LiveUpdateFailed(ApiError):
    """The store has the change, but the device's running voice loop did not take it."""

    status_code = 503
    error_code = "LIVE_UPDATE_FAILED"

    def __init__(self, device_id: str, event: SessionEvent, reason: str) -> None:
        super().__init__(
            f"Device '{device_id}' did not apply the change to its live session",
            details={
                "device_id": device_id,
                "change": type(event).__name__,
                "reason": reason,
                "retryable": True,
                "stored": True,
            },
        )


class LiveChanges:
    def __init__(self, *, bus: Bus, answer_timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        self._bus = bus
        self._timeout_s = answer_timeout_s

    async def publish(self, device_id: str, event: SessionEvent) -> bool:
        """Have the device's live session apply `event`; returns once it has.

        False if no instance holds the device's socket (the change is in the store, where
        the device's next connection finds it). `LiveUpdateFailed` if the live session
        answered that it could not apply it, or did not answer in time.
        """
        if not await self._bus.send(device_id, SessionChange(event=event)):
            return False
        outcome = await self._bus.outcome(event.event_id, self._timeout_s)
        if outcome is None:
            raise LiveUpdateFailed(device_id, event, f"no answer within {self._timeout_s:g} s")
        if not outcome.applied:
            raise LiveUpdateFailed(device_id, event, outcome.error or "not applied")
        return True

    async def publish_many(self, changes: Sequence[tuple[str, SessionEvent]]) -> dict[str, str | None]:
        """`publish` for many devices at once: every event sent in one batch, every answer awaited
        together, so the time taken does not grow with the number of devices.

        Returns, per device whose socket some instance holds, None once applied or why it was not
        (a failed or missing answer); devices with no socket are left out (the store has the change).
        """
        messages: list[tuple[str, BusMessage]] = [(d, SessionChange(event=e)) for d, e in changes]
        sent = await self._bus.send_many(messages)
        waiting = {e.event_id: d for (d, e), ok in zip(changes, sent, strict=True) if ok}
        outcomes = await self._bus.outcomes(list(waiting), self._timeout_s)
        results: dict[str, str | None] = {}
        for event_id, device_id in waiting.items():
            outcome = outcomes.get(event_id)
            if outcome is None:
                results[device_id] = f"no answer within {self._timeout_s:g} s"
            else:
                results[device_id] = None if outcome.applied else (outcome.error or "not applied")
        return results
