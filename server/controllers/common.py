"""Helpers every controller uses: the caller and the app's services."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from server.auth import Principal
from server.services import Services

AnyRequest = Request[Any, Any, Any]


def services_of(request: AnyRequest) -> Services:
    services: Services = request.app.state["services"]
    return services


def principal_of(request: AnyRequest) -> Principal:
    principal: Principal = request.user
    return principal


def public_base_url(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The server's http(s) base URL as clients reach it: configured, or from the request or socket."""
    services: Services = connection.app.state["services"]
    base = services.settings.public_base_url or str(connection.base_url)
    if base.startswith("ws"):  # a socket's own URL: ws:// or wss://
        base = "http" + base.removeprefix("ws")
    return base.rstrip("/")
