"""Cursor pagination for every list endpoint: `?limit=` and `?cursor=` in, `next_cursor` out.

A list is ordered by a key of each item that never changes (e.g. when it was created, then its
id). A page is the first `limit` items after the cursor's key; `next_cursor` is the key of the
page's last item, or null on the last page. Items added or removed meanwhile never make a page
repeat or skip another item: the cursor is a position in the order, not an offset.

The cursor is opaque to clients (URL-safe base64 of the key). Any string of its alphabet is a
position, so a cursor can never be "invalid" once it matches the pattern: an unknown one simply
starts after its key (possibly an empty page). `total` stays what the spec says it is: how many
items match, over all pages.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

from litestar.params import Parameter

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
CURSOR_PATTERN = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
"""URL-safe base64 without padding (a length of 4n+1 is never base64)."""

Limit = Annotated[
    int,
    Parameter(
        ge=1,
        le=MAX_LIMIT,
        description=f"Items per page: {DEFAULT_LIMIT} unless given, at most {MAX_LIMIT}.",
    ),
]
"""A list endpoint's `limit` query parameter (give it the default `DEFAULT_LIMIT`)."""
Cursor = Annotated[
    str | None,
    Parameter(
        min_length=2,
        max_length=512,
        pattern=CURSOR_PATTERN,
        description="The `next_cursor` of the previous page; leave out for the first page.",
    ),
]
"""A list endpoint's `cursor` query parameter (default None: the first page)."""

T = TypeVar("T")


def page(
    items: Sequence[T], *, key: Callable[[T], str], cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """The items after `cursor` (at most `limit`, in `key` order) and the cursor of the next page."""
    after = None if cursor is None else decode_cursor(cursor)
    ordered = sorted(items, key=key)
    rest = ordered if after is None else [item for item in ordered if key(item) > after]
    chosen = rest[:limit]
    more = len(rest) > limit
    return chosen, (encode_cursor(key(chosen[-1])) if more and chosen else None)


def created_key(created_at: datetime, item_id: str) -> str:
    """The order of things listed oldest first: creation time (fixed width, so text order is time
    order), then id."""
    return f"{created_at.timestamp():020.6f}|{item_id}"


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key a cursor stands for; any string of the cursor pattern is one."""
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    return raw.decode("utf-8", errors="replace")
