"""Types shared by several schemas, and the error body (§8.9)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

_END = r"(?![\s\S])"
"""End of text, the same in Python's `re` and in JSON Schema's ECMA regexes (Python's `$` also matches
before a final newline, so an id with a trailing newline would pass)."""

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+" + _END)]
"""Ids the server or the persona library chose (devices, sessions, personas): short, URL-safe."""
LABEL_PATTERN = r"^[^\x00-\x1f\x7f]+" + _END
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=LABEL_PATTERN)]
"""Identifiers people choose (users, groups, event types): any printable text, "Mrs Smith" included;
short, and without control characters (which could forge log lines)."""
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Metadata = Annotated[dict[str, Any], msgspec.Meta(max_length=64)]

MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
MetadataText = Annotated[str, msgspec.Meta(max_length=200)]
MetadataScalar = MetadataText | int | float | bool | None
MetadataValue = (
    MetadataScalar
    | Annotated[list[MetadataScalar], msgspec.Meta(max_length=8)]
    | Annotated[dict[MetadataKey, MetadataScalar], msgspec.Meta(max_length=8)]
)
SessionMetadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=16)]
"""A session's `metadata`, bounded in size and depth since every session keeps it for a day: at most
16 keys (each 1-64 characters); a value is text (at most 200 characters), a number, true/false,
null, or one level more: a list of at most 8 of those, or an object of at most 8 of those. About
36 KB of JSON at the very most; typically a few dozen bytes ({"room": "12", "shift": "evening"})."""


class RequestBody(msgspec.Struct, kw_only=True):
    """A request body on the wire. As in the spec's (pydantic) models, unknown fields are ignored; the
    API decodes bodies strictly (`"5"` is not an integer) and documents them with msgspec's own schema."""


class ErrorResponse(msgspec.Struct, kw_only=True):
    """The spec's error body (§8.9): every 4xx and 5xx has it."""

    error_code: str
    """Stable machine-readable code, e.g. `DEVICE_NOT_FOUND` (the README lists them all)."""
    message: str
    details: dict[str, Any] = {}
    request_id: str
    """Also in the response's `X-Request-ID` header."""
