"""Helpers every controller uses: the caller and the app's services."""

from __future__ import annotations

from typing import Any

from litestar import Request

from server.auth import Principal
from server.services import Services

AnyRequest = Request[Any, Any, Any]


def services_of(request: AnyRequest) -> Services:
    services: Services = request.app.state["services"]
    return services


def principal_of(request: AnyRequest) -> Principal:
    principal: Principal = request.user
    return principal
