"""Types shared by several schemas, and the error body (§8.9)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
"""Ids of devices, personas, sessions, groups: short, URL-safe."""
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Metadata = Annotated[dict[str, Any], msgspec.Meta(max_length=64)]


class ErrorResponse(msgspec.Struct, kw_only=True):
    error_code: str
    message: str
    details: dict[str, Any] = {}
    request_id: str
