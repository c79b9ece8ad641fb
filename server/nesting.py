"""How deep JSON from outside may nest: deeper input is refused before anything recurses into it.

Nothing the API takes nests deeper than a few levels; free-form fields (`metadata`, `config`,
`payload`) get `MAX_DEPTH` in all. Deeper documents would otherwise reach Python's recursion limit
in msgspec, in our handlers or in the store's encoder, and fail as a server fault.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


class TooDeep(ValueError):
    """The value nests arrays and objects more than `MAX_DEPTH` deep."""


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise `TooDeep` if `value` (decoded JSON) nests containers more than `limit` deep. Iterative."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise TooDeep(f"nested more than {limit} deep")
        pending.extend((child, depth + 1) for child in children)
