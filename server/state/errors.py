"""The state layer's one failure callers handle: the shared store does not answer."""

from __future__ import annotations

__all__ = ["StoreUnreachable"]


class StoreUnreachable(Exception):
    """The shared store (Redis) did not answer: it is down, restarting or cut off. The same call may
    succeed once it is back (the client reconnects by itself). A write whose reply was lost may
    have been made; the store's writes are safe to make twice except a context append's."""
