"""`RedisLink`: one multiplexed connection for the store's hot commands (a REST request's token check
and reads), at a tenth of redis-py's cost per command.

redis-py spends ~40 µs of Python per command (its pool, retry wrapper, observability hooks, a timeout
context and its parser), which was half of what a REST request on the Redis store cost. The link
writes every command issued in one turn of the event loop with one `write` (pipelined), and hiredis
parses the replies in order as they arrive, each resolving its caller's future: ~4 µs per command.

It fails as redis-py does, so `translate_outages` and the callers see no difference:
`redis.exceptions.ConnectionError` when Redis cannot be reached or the connection drops (every command
then waiting fails; the next call connects again), `TimeoutError` when a reply is later than
`REPLY_TIMEOUT_S` (the connection is closed, since later replies could no longer be matched),
`BusyLoadingError` for a Redis still loading its data, `NoScriptError` and `ResponseError` for
replies that are errors. It speaks RESP2 over TCP or a Unix socket, with the URL's password,
user name and database; a TLS URL keeps the store on redis-py alone (`for_client` gives None).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.state.redis_errors import CONNECT_TIMEOUT_S, REPLY_TIMEOUT_S

__all__ = ["LinkScript", "RedisLink"]

Arg = str | bytes | int | float


class RedisLink:
    """Commands over one connection, opened on first use and again after any failure."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        reply_timeout_s: float = REPLY_TIMEOUT_S,
    ) -> None:
        self._address = (host, port)
        self._path = path
        self._handshake: list[tuple[Arg, ...]] = []
        if password is not None:
            self._handshake.append(("AUTH", password) if username is None else ("AUTH", username, password))
        if db:
            self._handshake.append(("SELECT", db))
        self._connect_timeout_s = connect_timeout_s
        self._reply_timeout_s = reply_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    @classmethod
    def for_client(cls, client: Redis) -> RedisLink | None:
        """A link to the Redis that `client` reaches, with its credentials and database; None for a
        connection kind the link does not speak (TLS)."""
        pool = client.connection_pool
        kwargs: dict[str, Any] = pool.connection_kwargs
        if kwargs.get("credential_provider") is not None:
            return None
        db, username, password = int(kwargs.get("db") or 0), kwargs.get("username"), kwargs.get("password")
        if pool.connection_class is UnixDomainSocketConnection:
            return cls(path=kwargs["path"], db=db, username=username, password=password)
        if pool.connection_class is Connection:
            host, port = kwargs.get("host", "localhost"), int(kwargs.get("port", 6379))
            return cls(host=host, port=port, db=db, username=username, password=password)
        return None

    async def call(self, *args: Arg) -> Any:
        """Send one command and wait for its reply (an error reply is raised)."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connect()
        return await protocol.call(args)

    async def close(self) -> None:
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    async def _connect(self) -> _Protocol:
        """The open connection, opening it once for every caller that waits meanwhile."""
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._opened)
        return await asyncio.shield(self._connecting)

    def _opened(self, connecting: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not connecting.cancelled() and connecting.exception() is None:
            self._protocol = connecting.result()

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        timeout = self._reply_timeout_s
        protocol: _Protocol | None = None
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                if self._path is not None:
                    _, protocol = await loop.create_unix_connection(lambda: _Protocol(timeout), self._path)
                else:
                    _, protocol = await loop.create_connection(lambda: _Protocol(timeout), *self._address)
                for command in self._handshake:
                    await protocol.call(command)
        except BaseException as exc:
            if protocol is not None:
                protocol.close()
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError(f"Timeout connecting to {self._where()}") from None
            if isinstance(exc, OSError):
                raise RedisConnectionError(f"Error connecting to {self._where()}: {exc}") from None
            raise
        return protocol

    def _where(self) -> str:
        return self._path or f"{self._address[0]}:{self._address[1]}"


class LinkScript:
    """A Lua script run with EVALSHA; sent whole (EVAL, which also caches it) when Redis does not know
    it, e.g. after a restart."""

    def __init__(self, link: RedisLink, source: str) -> None:
        self._link = link
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Arg] | tuple[Arg, ...] = ()) -> Any:
        try:
            return await self._link.call("EVALSHA", self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._link.call("EVAL", self._source, len(keys), *keys, *args)


class _Protocol(asyncio.Protocol):
    """The connection: commands queued in one turn of the loop go out in one write; replies come back
    in the order the commands were sent, so each resolves the oldest waiting future."""

    def __init__(self, reply_timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._outgoing: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._reply_timeout_s = reply_timeout_s
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a stream transport

    def call(self, args: tuple[Arg, ...]) -> asyncio.Future[Any]:
        if self.closed:
            raise RedisConnectionError("Connection closed by server.")
        future = self._loop.create_future()
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(_pack(args))
        self._waiting.append((future, self._loop.time() + self._reply_timeout_s))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._reply_timeout_s, self._check_overdue)
        return future

    def _flush(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._outgoing))
        self._outgoing.clear()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail(RedisConnectionError(f"Protocol error from Redis: {exc}"))
                return
            if reply is False:
                return
            if not self._waiting:  # nothing asked for it: the stream can no longer be trusted
                self._fail(RedisConnectionError("Unexpected reply from Redis"))
                return
            future, _ = self._waiting.popleft()
            if not future.done():  # its caller may have given up (a cancelled request)
                if isinstance(reply, hiredis.ReplyError):
                    future.set_exception(_reply_error(str(reply)))
                else:
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError("Connection closed by server." if exc is None else str(exc)))

    def close(self) -> None:
        self._fail(RedisConnectionError("Connection closed."))

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        deadline = self._waiting[0][1]
        if deadline <= self._loop.time():
            self._fail(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._watchdog = self._loop.call_at(deadline, self._check_overdue)

    def _fail(self, error: Exception) -> None:
        """Close the connection and fail every command still waiting for its reply."""
        if self.closed:
            return
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)


def _pack(args: tuple[Arg, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            value = arg.encode()
        elif isinstance(arg, bytes):
            value = arg
        else:
            value = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


def _reply_error(message: str) -> Exception:
    """The redis-py exception for an error reply, as redis-py's own parser maps it."""
    code = message.split(" ", 1)[0]
    if code == "NOSCRIPT":
        return NoScriptError(message)
    if code == "LOADING":
        return BusyLoadingError(message)
    if code in ("NOAUTH", "WRONGPASS") or message.startswith("ERR invalid password"):
        return AuthenticationError(message)
    return ResponseError(message)
