"""`OPTIONS` answers name every method of their path.

Litestar answers `OPTIONS` itself, but when a path's handlers come from more than
one registration (a controller's `GET /` and `POST /` under a router), its answer
can list the methods of only some of them. This `before_send` hook rewrites the
`Allow` header from the app's routes, which have them all.
"""

from __future__ import annotations

from litestar.types import Message, Scope


async def allow_every_method(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    template = scope.get("path_template")
    methods = next((r.methods for r in scope["app"].routes if r.path_format == template), None)
    if not methods:
        return
    allow = ", ".join(sorted(methods)).encode()
    headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != b"allow"]
    message["headers"] = [*headers, (b"allow", allow)]
