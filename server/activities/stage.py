"""What a running activity does to its devices, behind one small interface (`Stage`), so the games'
logic is tested fast with a fake and runs for real through the live sessions (`LiveStage`).

- `cue`: a `sync_event` (a `BroadcastEvent` command, `event_type` e.g. "trivia_question") to each
  device, in one batch of store writes and one of publishes, with the moment it starts (`starts_at`).
- `say`: a line spoken by each device's live loop in the voice it has now: the activity's persona,
  whose session the device holds while it takes part (an `Announcement` live-session change).
- `quiet`: wait until the line just said has been said: until some device has started saying it
  (its presence turns `busy` while a reply plays; speech synthesis may take seconds to start), then
  until none is still saying it, so the next line does not cut the last.
- `finish`: stop the activity the way `POST /coordination/activities/{id}/stop` does: every device
  goes back to its own session and persona.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol


class Stage(Protocol):
    def now(self) -> datetime: ...

    async def sleep_until(self, when: datetime) -> None: ...

    async def connected(self, device_ids: Sequence[str]) -> list[str]:
        """Those of `device_ids` connected now, in order."""
        ...

    async def cue(self, device_ids: Sequence[str], event_type: str, fields: dict[str, Any]) -> None: ...

    async def say(self, device_ids: Sequence[str], text: str, *, interrupt: bool) -> None: ...

    async def quiet(self, device_ids: Sequence[str], *, expect_s: float) -> None:
        """Return once the line just said (about `expect_s` long) has been said everywhere."""
        ...

    async def finish(self, activity_id: str) -> None: ...
