"""Which stored session a device's graph holds the conversation of."""

from __future__ import annotations

import asyncio


class HeldSession:
    """The id of the session whose conversation (and persona) the graph holds; "" when none.

    The live session changes it as it applies events; a turn with none held opens the
    device's current session. Waiters learn of every change.
    """

    def __init__(self, session_id: str = "") -> None:
        self._id = session_id
        self._changed = asyncio.Event()

    @property
    def id(self) -> str:
        return self._id

    def set(self, session_id: str) -> None:
        if session_id == self._id:
            return
        self._id = session_id
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Returns at the next change."""
        await self._changed.wait()
