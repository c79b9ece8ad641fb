"""Reply audio is kept within bounds of time and bytes, per device and in all (issue 12).

The attack: one device asking for spoken reply after reply, each kept as a WAV for the URL's
lifetime, so memory (or Redis) fills at ~6 MB a device-minute. `ReplyAudio` on the real
`MemoryStore`: past a bound, the oldest replies (the device's own first) are let go.
"""

from __future__ import annotations

from server.state.memory import MemoryStore
from server.voice.reply_audio import ReplyAudio


def _keeper(store: MemoryStore, *, max_bytes: int = 1000, per_device: int = 300) -> ReplyAudio:
    return ReplyAudio(store=store, ttl_s=600, max_bytes=max_bytes, max_bytes_per_device=per_device)


async def test_one_devices_replies_past_its_bound_let_its_oldest_go() -> None:
    store = MemoryStore()
    keeper = _keeper(store)
    await keeper.keep("dev_other", "aud_other", b"o" * 100)
    for n in range(5):
        await keeper.keep("dev_flood", f"aud_{n}", bytes([n]) * 100)
    assert keeper.kept_bytes_of("dev_flood") == 300
    assert [await store.get_blob(f"aud_{n}") is None for n in range(5)] == [True, True, False, False, False]
    assert await store.get_blob("aud_other") == b"o" * 100  # another device's reply is untouched
    assert keeper.kept_bytes == 400


async def test_all_devices_together_stay_within_the_overall_bound() -> None:
    store = MemoryStore()
    keeper = _keeper(store, max_bytes=500, per_device=300)
    for n in range(8):
        await keeper.keep(f"dev_{n}", f"aud_{n}", b"x" * 100)
    assert keeper.kept_bytes == 500
    assert [await store.get_blob(f"aud_{n}") is None for n in range(8)] == [True] * 3 + [False] * 5


async def test_a_reply_larger_than_a_bound_is_still_kept_alone() -> None:
    store = MemoryStore()
    keeper = _keeper(store, max_bytes=500, per_device=300)
    await keeper.keep("dev_a", "aud_small", b"s" * 100)
    await keeper.keep("dev_a", "aud_long", b"l" * 400)
    assert await store.get_blob("aud_long") == b"l" * 400
    assert await store.get_blob("aud_small") is None
    assert keeper.kept_bytes_of("dev_a") == 400
