"""Reply audio kept behind pre-signed URLs, within a bound of time and of bytes.

Every spoken reply (a live device's and the REST dialog's) is kept as a WAV in the store (the
process's memory, or Redis when configured, so any instance can serve its URL) for
`audio_url_ttl_s`, the URL's own lifetime. On top of that time bound, what this instance keeps
is bounded in bytes: at most `reply_audio_max_bytes_per_device` of one device's replies and
`reply_audio_max_bytes` in all. A new reply past either bound makes the oldest replies (the
device's own first) go early: their URLs then answer 404 `AUDIO_NOT_FOUND`. A device plays its
reply as it streams or fetches the URL at once, so only stale replies are ever dropped.

A reply larger than a bound on its own is still kept (alone): each bound is the larger of
itself and one reply.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import msgspec

from server.state.base import Store


class _Kept(msgspec.Struct, frozen=True):
    device_id: str
    size: int
    deadline: float


class ReplyAudio:
    """What this instance keeps of reply audio, and the bounds it keeps it within."""

    def __init__(self, *, store: Store, ttl_s: int, max_bytes: int, max_bytes_per_device: int) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._max_bytes = max_bytes
        self._max_per_device = max_bytes_per_device
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        """Blob id → what it holds, oldest first."""
        self._bytes = 0
        self._by_device: dict[str, int] = {}

    @property
    def kept_bytes(self) -> int:
        """Bytes of reply audio this instance keeps now (within their lifetime)."""
        self._forget_expired(time.monotonic())
        return self._bytes

    def kept_bytes_of(self, device_id: str) -> int:
        self._forget_expired(time.monotonic())
        return self._by_device.get(device_id, 0)

    async def keep(self, device_id: str, blob_id: str, wav: bytes) -> None:
        """Keep `wav` as `blob_id` for the URL's lifetime, first dropping what the bounds require.

        The accounting is done before the first await, so replies kept at the same moment never
        pass a bound together.
        """
        now = time.monotonic()
        self._forget_expired(now)
        size = len(wav)
        dropped = []
        while self._by_device.get(device_id, 0) + size > self._max_per_device and self._any(device_id):
            dropped.append(self._remove_oldest(device_id))
        while self._bytes + size > self._max_bytes and self._kept:
            dropped.append(self._remove_oldest(None))
        self._add(blob_id, _Kept(device_id=device_id, size=size, deadline=now + self._ttl_s))
        for old in dropped:
            await self._store.delete_blob(old)
        await self._store.put_blob(blob_id, wav, self._ttl_s)

    def _any(self, device_id: str) -> bool:
        return device_id in self._by_device

    def _remove_oldest(self, device_id: str | None) -> str:
        """Stop counting the oldest reply kept (of `device_id`, if given); its blob id, to delete."""
        blob_id = next(
            b for b, kept in self._kept.items() if device_id is None or kept.device_id == device_id
        )
        self._remove(blob_id)
        return blob_id

    def _forget_expired(self, now: float) -> None:
        """Stop counting replies past their lifetime (the store has let them go itself)."""
        while self._kept:
            blob_id, kept = next(iter(self._kept.items()))
            if kept.deadline > now:
                return
            self._remove(blob_id)

    def _add(self, blob_id: str, kept: _Kept) -> None:
        if blob_id in self._kept:  # kept again (a write retried once the store is back): counted once
            self._remove(blob_id)
        self._kept[blob_id] = kept
        self._bytes += kept.size
        self._by_device[kept.device_id] = self._by_device.get(kept.device_id, 0) + kept.size

    def _remove(self, blob_id: str) -> None:
        kept = self._kept.pop(blob_id)
        self._bytes -= kept.size
        left = self._by_device[kept.device_id] - kept.size
        if left:
            self._by_device[kept.device_id] = left
        else:
            del self._by_device[kept.device_id]
