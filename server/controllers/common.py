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
    """The server's http(s) base URL as clients reach it (`websocket_url`, reply audio URLs):
    `COMPANION_PUBLIC_BASE_URL`, else the address and port the connection arrived at on the server's
    own socket. Never the request's `Host` header: a client must not choose where devices are sent."""
    settings = connection.app.state["services"].settings
    if settings.public_base_url:
        return str(settings.public_base_url).rstrip("/")
    scheme = "https" if connection.scope.get("scheme") in ("https", "wss") else "http"
    server = connection.scope.get("server")
    host, port = (server[0], server[1]) if server else (settings.host, settings.port)
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default_port = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"
