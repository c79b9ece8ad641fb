"""Whether a device is busy with a reply, and a wait for the moment it is not."""

from __future__ import annotations

import asyncio
import contextlib


class Replying:
    """A reply is being produced (after the user's turn ended) or played: the device is busy.

    The device's graph sets it as its turns go; a line that must not cut in (a broadcast's)
    waits for it to clear, and is woken the moment it does.
    """

    def __init__(self) -> None:
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def active(self) -> bool:
        return not self._quiet.is_set()

    def set(self, replying: bool) -> bool:
        """Returns whether this changed anything."""
        if replying == self.active:
            return False
        if replying:
            self._quiet.clear()
        else:
            self._quiet.set()
        return True

    async def wait_quiet(self, timeout_s: float) -> None:
        """Returns once no reply is under way, or after `timeout_s`, whichever comes first.

        On return without the timeout, `active` is False until the caller next awaits: a reply
        that started again before the waiter ran is waited for too.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self.active:
                    await self._quiet.wait()
