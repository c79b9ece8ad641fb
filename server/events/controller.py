"""`GET /v1/events`: the operator event stream, as Server-Sent Events (text/event-stream).

Each event has an `id:` (its place in the log, the same on every instance), an `event:` line (its
kind) and one JSON `data:` line. The first message is a `retry:` hint; a comment line is sent
when nothing else was for `events_heartbeat_s`. A client resumes with the `Last-Event-ID` header
(browsers' EventSource send it by themselves) or, where it cannot set headers, `?last_event_id=`.
If its id is older than what the log keeps, or unknown to it, a `reset` event comes first.
Not in the OpenAPI document (a stream that never ends); described in the README.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from litestar import get
from litestar.params import FromQuery
from litestar.response import Stream

from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.errors import ValidationFailed
from server.events.feed import HEARTBEAT, Item, Match, Reset
from server.events.log import is_event_id
from server.events.messages import KINDS, Entry, event_data

TRANSCRIPTS_SCOPE = "transcripts:read"
"""The scope an operator token needs for events to carry words (`user_text`, `reply_text`, `words`)."""
RETRY_MS = 3000
MAX_STREAM_S = 60.0
"""A stream is ended after this long; the client reconnects (after `retry`) and resumes with its
`Last-Event-ID`, losing nothing. Without it an open stream would hold an instance's shutdown."""


@get("/events", include_in_schema=False, summary="Operator event stream (Server-Sent Events)")
async def event_stream(
    request: AnyRequest,
    group_id: FromQuery[str | None] = None,
    device_id: FromQuery[str | None] = None,
    kinds: FromQuery[str | None] = None,
    last_event_id: FromQuery[str | None] = None,
) -> Stream:
    principal = principal_of(request)
    require_operator(principal)
    resume = request.headers.get("last-event-id") or last_event_id
    if resume is not None and not is_event_id(resume):
        raise ValidationFailed(
            "Last-Event-ID is not an event id (`<ms>-<seq>`)", details={"last_event_id": resume[:64]}
        )
    wanted = _kinds(kinds)
    services = services_of(request)
    words = TRANSCRIPTS_SCOPE in principal.scopes
    match = _matcher(group_id, device_id, wanted)
    items = services.feed.stream(
        last_id=resume, match=match, heartbeat_s=services.settings.events_heartbeat_s
    )
    return Stream(
        _sse(items, words=words),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _kinds(kinds: str | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    wanted = frozenset(k.strip() for k in kinds.split(",") if k.strip())
    unknown = sorted(wanted - KINDS)
    if unknown or not wanted:
        raise ValidationFailed(
            "kinds names an unknown event kind", details={"unknown": unknown, "allowed": sorted(KINDS)}
        )
    return wanted


def _matcher(group_id: str | None, device_id: str | None, kinds: frozenset[str] | None) -> Match:
    def match(entry: Entry) -> bool:
        return (
            (group_id is None or entry.group_id == group_id)
            and (device_id is None or entry.device_id == device_id)
            and (kinds is None or entry.kind in kinds)
        )

    return match


async def _sse(items: AsyncIterator[Item], *, words: bool) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    ends = time.monotonic() + MAX_STREAM_S
    async for item in items:
        if time.monotonic() > ends:
            return
        if item is HEARTBEAT:
            yield b": keep-alive\n\n"
        elif isinstance(item, Reset):
            oldest = "null" if item.oldest_id is None else f'"{item.oldest_id}"'
            yield f'event: reset\ndata: {{"reason": "{item.reason}", "oldest_id": {oldest}}}\n\n'.encode()
        elif isinstance(item, tuple):
            event_id, entry = item
            data = event_data(entry, words=words)
            yield (
                b"id: "
                + event_id.encode()
                + b"\nevent: "
                + entry.kind.encode()
                + b"\ndata: "
                + data
                + b"\n\n"
            )
