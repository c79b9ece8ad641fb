"""Per-request facts kept in the ASGI scope: the request id, and when the request arrived.

The request id is in every error body and a header on every response.
"""

from __future__ import annotations

import re
import secrets
import time

from litestar.types import Message, Scope

REQUEST_ID_HEADER = "x-request-id"
_SCOPE_KEY = "companion.request_id"
_RECEIVED_KEY = "companion.received"
_CLIENT_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")


def request_id_for(scope: Scope) -> str:
    """The request's id: the client's `X-Request-ID` if well formed, else a new `req_…`."""
    existing = scope.get(_SCOPE_KEY)
    if existing is not None:
        return str(existing)
    request_id = ""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _CLIENT_ID.fullmatch(candidate):
                request_id = candidate
            break
    request_id = request_id or f"req_{secrets.token_hex(8)}"
    scope[_SCOPE_KEY] = request_id  # type: ignore[literal-required]  # our own key in the ASGI scope dict
    return request_id


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: stamp the request id on every HTTP response, errors included."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        headers.append((REQUEST_ID_HEADER.encode(), request_id_for(scope).encode()))
        message["headers"] = headers


def mark_received(scope: Scope) -> None:
    """Stamp when the request reached the app (before auth and body parsing)."""
    scope[_RECEIVED_KEY] = time.perf_counter()  # type: ignore[literal-required]  # our own key in the ASGI scope dict


def received_at(scope: Scope) -> float:
    """The `perf_counter()` when the request reached the app; latencies are measured from it."""
    stamped = scope.get(_RECEIVED_KEY)
    return stamped if isinstance(stamped, float) else time.perf_counter()
