"""Health: no auth, so load balancers and operators can probe it."""

from __future__ import annotations

import time
from importlib.metadata import PackageNotFoundError, version

from litestar import get

from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import NOT_OPERATOR, declare
from server.schemas.health import HealthResponse
from server.voice.latency import LatencySummary

try:
    VERSION = version("companion-voice-server")
except PackageNotFoundError:  # running from a checkout that was never installed
    VERSION = "0.0.0+unknown"


@get("/health", summary="Health", tags=["health"], exclude_from_auth=True, **declare(token=False))
async def health(request: AnyRequest) -> HealthResponse:
    services = services_of(request)
    store_ok = await services.store.ping()
    return HealthResponse(
        status="ok" if store_ok else "degraded",
        version=VERSION,
        instance_id=services.settings.instance_id,
        store_backend=services.store.backend,
        store_ok=store_ok,
        llm_engine=services.settings.llm_engine,
        personas=len(services.personas),
        connected_devices=len(services.connections),
        uptime_s=round(time.monotonic() - services.started, 3),
    )


@get("/metrics/latency", summary="Per-stage turn latency", tags=["health"], **declare(NOT_OPERATOR))
async def latency_metrics(request: AnyRequest) -> LatencySummary:
    """Operators only. Recent voice turns of this instance: ms from the end of speech to each stage."""
    require_operator(principal_of(request))
    return services_of(request).latency.summary()
