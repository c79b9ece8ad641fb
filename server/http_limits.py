"""Bounded HTTP connections: nobody can stall, fill or outlive the server with sockets that say nothing.

uvicorn's httptools protocol closes an idle keep-alive connection, but waits forever for a request that
has begun (slow-loris) or never begins (a bare TCP connection), and keeps every byte of an unfinished
header. `BoundedHttpToolsProtocol` adds, per connection:

- a deadline for a request's line and headers, counted from the connection opening or the previous
  response (`COMPANION_REQUEST_HEADER_TIMEOUT_S`), and one for its body, counted from its headers
  (`COMPANION_REQUEST_BODY_TIMEOUT_S`): past either, 408 in the spec's error body, and closed;
- a cap on the request line and headers together (`COMPANION_MAX_REQUEST_HEADER_BYTES`): past it, 431
  and closed, having kept at most the cap and one read;
- a connection budget below the file-descriptor limit: when a new connection would pass it, the oldest
  connections still sending their headers (or idle between requests) are closed to make room, so idle
  attacker sockets can never use up the descriptors legitimate requests and device sockets need.

A WebSocket leaves these rules once upgraded; its own deadlines (authentication, heartbeat) take over.
"""

from __future__ import annotations

import asyncio
import resource
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, cast

import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from server.schemas.common import ErrorResponse

Phase = Literal["headers", "body"]
_DEFAULT_HARD_CAP = 1 << 20
"""Where an unlimited hard limit is taken to be (macOS reports RLIM_INFINITY but refuses more)."""


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int
    max_connections: int


def raise_fd_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _DEFAULT_HARD_CAP if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # a platform that refuses: keep what we have
            return soft
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def connection_budget(fd_limit: int) -> int:
    """Connections the server holds at most: the fd limit less a reserve (a quarter, at most 1024) for
    what the process opens itself (Redis, model and log files, its own outgoing sockets)."""
    return max(1, fd_limit - min(1024, fd_limit // 4))


def bounded_protocol(limits: ConnectionLimits) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for one server: these limits, and its own list of connections to shed."""
    namespace: dict[str, Any] = {"limits": limits, "waiting": {}}
    return cast(
        "type[BoundedHttpToolsProtocol]",
        type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), namespace),
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[ConnectionLimits]
    waiting: ClassVar[dict[BoundedHttpToolsProtocol, None]]
    """This server's connections still sending a request's headers, or idle between requests; oldest first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()
        self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self in self.waiting and not self.transport.is_closing():
            # Counted per read while the headers are unfinished: at most the cap and one read are kept.
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse(431, "REQUEST_HEADERS_TOO_LARGE", "Request line and headers are too large")

    def handle_websocket_upgrade(self) -> None:
        self._stop_clock()
        self.waiting.pop(self, None)
        super().handle_websocket_upgrade()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self not in self.waiting:  # a pipelined request: its headers have their own deadline
            self._await_headers()

    def on_headers_complete(self) -> None:
        self.waiting.pop(self, None)
        self._header_bytes = 0
        self._stop_clock()
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._start_clock("body", self.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        self._stop_clock()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._await_headers()  # the next request, if any, is due within the header deadline

    # Deadlines and shedding

    def _await_headers(self) -> None:
        self.waiting[self] = None
        self._header_bytes = 0
        self._start_clock("headers", self.limits.header_timeout_s)

    def _start_clock(self, phase: Phase, seconds: float) -> None:
        self._stop_clock()
        self._deadline = self.loop.call_later(seconds, self._expired, phase)

    def _stop_clock(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: Phase) -> None:
        self._deadline = None
        seconds = self.limits.header_timeout_s if phase == "headers" else self.limits.body_timeout_s
        self._refuse(
            408,
            "REQUEST_TIMEOUT",
            f"The request's {phase} did not arrive within {seconds:g} s",
            {"phase": phase, "timeout_s": seconds},
        )

    def _shed(self) -> None:
        """Close the oldest waiting connections while this server holds more than its budget."""
        while len(self.connections) > self.limits.max_connections:
            oldest = next((c for c in self.waiting if c is not self), None)
            if oldest is None:
                return
            oldest._refuse(503, "SERVER_BUSY", "Too many open connections; this one sent no request in time")

    def _refuse(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        """Answer `status` in the spec's error body if no response is under way, then close."""
        self._stop_clock()
        self.waiting.pop(self, None)
        if self.transport.is_closing():
            return
        # No longer counted against the budget: it is closing (uvicorn discards it again when it is lost).
        self.connections.discard(self)
        cycle = self.cycle
        idle = cycle is None or cycle.response_complete
        if idle or not cycle.response_started:
            self.transport.write(_error_response(status, code, message, details or {}))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the handler's reads end and its writes are dropped
            cycle.message_event.set()
        self.transport.close()


def _error_response(status: int, code: str, message: str, details: dict[str, Any]) -> bytes:
    body = msgspec.json.encode(
        ErrorResponse(
            error_code=code, message=message, details=details, request_id=f"req_{secrets.token_hex(8)}"
        )
    )
    head = (
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n"
    )
    return STATUS_LINE[status] + head + body
