"""Health endpoint."""

from __future__ import annotations

from typing import Literal

import msgspec


class HealthResponse(msgspec.Struct, kw_only=True):
    status: Literal["ok", "degraded"]
    version: str
    instance_id: str
    store_backend: str
    store_ok: bool
    llm_engine: str
    """"anthropic", or "scripted-offline": keyword rules, not a language model."""
    personas: int
    connected_devices: int
    """Device sockets held by this instance."""
    uptime_s: float
