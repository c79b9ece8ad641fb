"""The `Store` contract, run against every backend (Redis on a real redis-server)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

import msgspec
import pytest

from personas.schema import EspeakVoice
from pipeline.graph.pauses import Pause, PauseProfile
from pipeline.llm import ChatMessage
from server.media.cue import PlaybackCue
from server.state.base import Store
from server.state.memory import MemoryStore
from server.state.records import (
    ActivityRecord,
    CommandRecord,
    DayMetrics,
    DeviceRecord,
    DeviceRuntime,
    DeviceSnapshot,
    Presence,
    RateCount,
    Return,
    RuntimeChange,
    SessionRecord,
    TokenCheck,
)
from server.state.redis import RedisStore
from server.ws.commands import (
    BroadcastEvent,
    CommandPayload,
    GroupActivityStart,
    OperatorLed,
    OperatorSync,
    PersonaSwitchCommand,
    PlaybackControl,
    SessionHandoff,
)

RETENTION_S = 3600
HOUR = 3600

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Makes stores sharing one state, as server instances do (memory: the one store)."""
    opened: list[Store] = []
    if request.param == "memory":
        memory = MemoryStore(session_retention_s=RETENTION_S)
        opened.append(memory)

        def make() -> Store:
            return memory

    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:10]}:"  # a fresh keyspace per test

        def make() -> Store:
            store = RedisStore.from_url(url, key_prefix=prefix, session_retention_s=RETENTION_S)
            opened.append(store)
            return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
def store(stores: StoreFactory) -> Store:
    return stores()


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float = 3.0) -> None:
    """Poll `condition` until it holds (for TTLs, which nothing announces), failing at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


def now() -> datetime:
    return datetime.now(UTC)


def device(device_id: str, created_at: datetime | None = None, jti: str = "jti-1") -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id,
        name=f"Device {device_id}",
        device_type="speaker",
        location="kitchen",
        group_id=None,
        capabilities=["audio_in", "audio_out"],
        created_at=created_at or now(),
        token_jti=jti,
    )


def session(
    session_id: str, device_id: str = "dev-1", created_at: datetime | None = None, expires_in_s: float = 1800
) -> SessionRecord:
    return SessionRecord(
        session_id=session_id,
        device_id=device_id,
        persona_id="companion",
        user_id=None,
        metadata={"room": "kitchen"},
        created_at=created_at or now(),
        expires_at=now() + timedelta(seconds=expires_in_s),
    )


def presence(instance_id: str) -> Presence:
    return Presence(instance_id=instance_id, status="online", connected_at=now())


def chat(*contents: str) -> list[ChatMessage]:
    return [
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=c) for i, c in enumerate(contents)
    ]


async def test_ping(store: Store) -> None:
    assert await store.ping()
    assert store.backend in ("memory", "redis")


# Devices


async def test_device_add_get_replace(store: Store) -> None:
    await store.add_device(device("dev-1"))
    rotated = device("dev-1", jti="jti-2")
    await store.replace_device(rotated)
    assert await store.get_device("dev-1") == rotated
    assert await store.get_device("dev-unknown") is None


async def test_replace_unknown_device_does_not_create_it(store: Store) -> None:
    await store.replace_device(device("dev-ghost"))
    assert await store.get_device("dev-ghost") is None
    assert await store.list_devices() == []


async def test_list_devices_oldest_registration_first(store: Store) -> None:
    base = now()
    for device_id, age_s in (("dev-b", 10), ("dev-c", 5), ("dev-a", 20)):
        await store.add_device(device(device_id, created_at=base - timedelta(seconds=age_s)))
    assert [d.device_id for d in await store.list_devices()] == ["dev-a", "dev-b", "dev-c"]


async def test_delete_device_removes_record_runtime_presence_and_metrics(store: Store) -> None:
    await store.add_device(device("dev-1"))
    await store.add_device(device("dev-2"))
    await store.update_runtime("dev-1", active_persona_id="companion")
    await store.set_presence("dev-1", presence("inst-a"), ttl_s=60)
    await store.record_interaction("dev-1", 120.0, now())

    assert await store.delete_device("dev-1") is True

    assert await store.get_device("dev-1") is None
    assert await store.get_runtime("dev-1") == DeviceRuntime()
    assert await store.get_presence("dev-1") is None
    assert await store.get_day_metrics("dev-1", now().date()) == DayMetrics(day=now().date())
    assert [d.device_id for d in await store.list_devices()] == ["dev-2"]
    assert await store.delete_device("dev-1") is False


async def test_runtime_of_a_device_never_active_is_empty(store: Store) -> None:
    assert await store.get_runtime("dev-1") == DeviceRuntime()


async def test_update_runtime_touches_only_the_given_fields(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    at = now()
    await first.update_runtime("dev-1", active_persona_id="p1", active_session_id="s1", last_activity=at)
    await second.update_runtime("dev-1", active_session_id=None)
    assert await first.get_runtime("dev-1") == DeviceRuntime("p1", None, at)

    # Two instances updating different fields at once both win.
    await asyncio.gather(
        first.update_runtime("dev-1", active_persona_id="p2"),
        second.update_runtime("dev-1", active_session_id="s2"),
    )
    assert await second.get_runtime("dev-1") == DeviceRuntime("p2", "s2", at)


async def test_device_snapshot_reads_device_runtime_presence_and_day_together(stores: StoreFactory) -> None:
    writer, reader = stores(), stores()
    today = now().date()
    assert await reader.get_device_snapshot("dev-1", today) is None

    added = device("dev-1")
    await writer.add_device(added)
    fresh = DeviceSnapshot(device=added, runtime=DeviceRuntime(), presence=None, day=DayMetrics(day=today))
    assert await reader.get_device_snapshot("dev-1", today) == fresh

    at = now()
    mine = presence("inst-a")
    await writer.update_runtime("dev-1", active_persona_id="p1", last_activity=at)
    await writer.set_presence("dev-1", mine, ttl_s=60)
    await writer.record_interaction("dev-1", 100.0, at)
    await writer.record_interaction("dev-1", 50.5, at)
    snapshot = await reader.get_device_snapshot("dev-1", at.date())
    assert snapshot is not None
    assert snapshot.device == await reader.get_device("dev-1")
    assert snapshot.runtime == DeviceRuntime("p1", None, at)
    assert snapshot.presence == mine
    assert snapshot.day == DayMetrics(day=at.date(), interactions=2, latency_ms_total=150.5)
    yesterday = at.date() - timedelta(days=1)
    earlier = await reader.get_device_snapshot("dev-1", yesterday)
    assert earlier is not None
    assert earlier.day == DayMetrics(day=yesterday)

    await writer.delete_device("dev-1")
    assert await reader.get_device_snapshot("dev-1", at.date()) is None


# Presence


async def test_presence_is_shared_and_expires_after_its_ttl(stores: StoreFactory) -> None:
    owner, other = stores(), stores()
    mine = presence("inst-a")
    await owner.set_presence("dev-1", mine, ttl_s=0.2)
    assert await other.get_presence("dev-1") == mine

    async def gone() -> bool:
        return await other.get_presence("dev-1") is None

    await eventually(gone)


async def test_presence_status_goes_busy_and_back_for_every_instance(stores: StoreFactory) -> None:
    owner, other = stores(), stores()
    online = presence("inst-a")
    busy = Presence(instance_id="inst-a", status="busy", connected_at=online.connected_at)
    await owner.set_presence("dev-1", online, ttl_s=60)
    await owner.set_presence("dev-1", busy, ttl_s=60)
    assert await other.get_presence("dev-1") == busy
    await owner.set_presence("dev-1", online, ttl_s=60)
    assert await other.get_presence("dev-1") == online


async def test_clear_presence_only_by_its_owner(store: Store) -> None:
    await store.set_presence("dev-1", presence("inst-a"), ttl_s=60)
    await store.clear_presence("dev-1", "inst-b")
    current = await store.get_presence("dev-1")
    assert current is not None
    assert current.instance_id == "inst-a"
    await store.clear_presence("dev-1", "inst-a")
    assert await store.get_presence("dev-1") is None
    await store.clear_presence("dev-unknown", "inst-a")  # nothing to clear: no error


# Token revocation


async def test_revoked_token_is_refused_until_its_expiry(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.revoke_token("jti-long", now() + timedelta(hours=1))
    await first.revoke_token("jti-short", now() + timedelta(seconds=0.3))
    await first.revoke_token("jti-past", now() - timedelta(seconds=1))
    assert await second.is_revoked("jti-long")
    assert not await second.is_revoked("jti-other")
    assert not await second.is_revoked("jti-past")

    async def lapsed() -> bool:
        return not await second.is_revoked("jti-short")

    await eventually(lapsed)
    assert await second.is_revoked("jti-long")


async def test_a_device_token_stands_only_while_its_device_holds_its_jti(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.add_device(device("dev-1", jti="jti-current"))
    assert (await second.check_token("jti-current", device_id="dev-1")).standing == "ok"
    assert (await second.check_token("jti-rotated-away", device_id="dev-1")).standing == "revoked"
    assert (await second.check_token("jti-current", device_id="dev-unknown")).standing == "unknown_device"
    await first.revoke_token("jti-deregistered", now() + timedelta(hours=1))
    assert (await second.check_token("jti-deregistered", device_id="dev-gone")).standing == "revoked"
    await first.replace_device(device("dev-1", jti="jti-next"))  # a rotation
    assert (await second.check_token("jti-current", device_id="dev-1")).standing == "revoked"
    assert (await second.check_token("jti-next", device_id="dev-1")).standing == "ok"
    await first.delete_device("dev-1")  # a deregistration (its service revokes the jti as well)
    assert (await second.check_token("jti-next", device_id="dev-1")).standing == "unknown_device"


async def test_an_operator_token_stands_unless_revoked(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.add_device(device("dev-1", jti="jti-op"))  # a device's jti is not an operator's standing
    assert (await second.check_token("jti-op", device_id=None)).standing == "ok"
    await first.revoke_token("jti-op", now() + timedelta(hours=1))
    assert (await second.check_token("jti-op", device_id=None)).standing == "revoked"


async def test_a_token_check_counts_a_hit_only_for_a_token_that_stands(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.add_device(device("dev-1", jti="jti-1"))
    count = RateCount(key="req:device:dev-1", window_s=HOUR)
    assert (await first.check_token("jti-1", device_id="dev-1")).window is None  # nothing asked
    checked = await first.check_token("jti-1", device_id="dev-1", count=count)
    assert checked.standing == "ok"
    assert checked.window is not None
    assert checked.window.count == 1
    assert 0 < checked.window.reset_in_s <= HOUR
    refused = await second.check_token("jti-old", device_id="dev-1", count=count)
    assert refused == TokenCheck(standing="revoked", window=None)
    # The same counter as `hit`, across instances: the refused check counted nothing.
    assert (await second.hit("req:device:dev-1", HOUR)).count == 2
    again = await second.check_token("jti-1", device_id="dev-1", count=count)
    assert again.window is not None
    assert again.window.count == 3
    operator = await second.check_token("jti-op", device_id=None, count=RateCount("req:operator:ops", HOUR))
    assert operator.window is not None
    assert operator.window.count == 1


# Sessions


async def test_session_add_get_replace(store: Store) -> None:
    await store.add_session(session("s1"))
    ended = msgspec.structs.replace(session("s1"), status="ended", ended_at=now())
    await store.replace_session(ended)
    assert await store.get_session("s1") == ended
    assert await store.get_session("s-unknown") is None


async def test_replace_unknown_session_does_not_create_it(store: Store) -> None:
    await store.replace_session(session("s-ghost"))
    assert await store.get_session("s-ghost") is None
    assert await store.list_sessions() == []


async def test_expired_session_is_kept_for_the_retention_then_forgotten(store: Store) -> None:
    expired = session("s-expired", expires_in_s=-60)
    nearly_gone = session("s-old", expires_in_s=-RETENTION_S + 0.3)
    await store.add_session(expired)
    await store.add_session(nearly_gone)
    await store.add_session(session("s-gone", expires_in_s=-RETENTION_S - 1))
    await store.append_context("s-old", chat("hello"), keep_last=10)

    assert await store.get_session("s-expired") == expired
    assert await store.get_session("s-old") == nearly_gone
    assert await store.get_session("s-gone") is None

    async def forgotten() -> bool:
        return await store.get_session("s-old") is None

    await eventually(forgotten)
    assert await store.get_context("s-old") == []
    assert [s.session_id for s in await store.list_sessions()] == ["s-expired"]


async def test_list_sessions_oldest_first_and_per_device(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    base = now()
    await first.add_session(session("s-b", "dev-1", created_at=base - timedelta(seconds=10)))
    await second.add_session(session("s-c", "dev-2", created_at=base - timedelta(seconds=5)))
    await first.add_session(session("s-a", "dev-1", created_at=base - timedelta(seconds=20)))

    assert [s.session_id for s in await second.list_sessions()] == ["s-a", "s-b", "s-c"]
    assert [s.session_id for s in await second.list_sessions("dev-1")] == ["s-a", "s-b"]
    assert await first.list_sessions("dev-unknown") == []


async def test_session_handed_off_moves_between_device_lists(store: Store) -> None:
    original = session("s1", "dev-1")
    await store.add_session(original)
    await store.replace_session(msgspec.structs.replace(original, device_id="dev-2"))
    assert await store.list_sessions("dev-1") == []
    assert [s.session_id for s in await store.list_sessions("dev-2")] == ["s1"]


async def test_context_appends_in_order_and_keeps_the_last(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.add_session(session("s1"))
    await first.append_context("s1", chat("one", "two"), keep_last=3)
    await second.append_context("s1", chat("three", "four"), keep_last=3)
    assert [m.content for m in await first.get_context("s1")] == ["two", "three", "four"]
    assert await first.get_context("s-other") == []

    await second.append_context("s1", [], keep_last=3)
    assert len(await first.get_context("s1")) == 3
    await second.clear_context("s1")
    assert await first.get_context("s1") == []
    with pytest.raises(ValueError, match="keep_last"):
        await first.append_context("s1", chat("x"), keep_last=0)


def pauses(*seconds: float, turns: int = 1) -> PauseProfile:
    recent = tuple(Pause(seconds=s, confident=s > 0.5) for s in seconds)
    return PauseProfile(recent=recent, finished=tuple(p for p in recent if p.confident), turns=turns)


async def test_pause_profile_is_kept_per_session_replaced_and_shared(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    await first.add_session(session("s1"))
    await first.add_session(session("s2"))
    assert await second.get_pause_profile("s1") is None  # nothing kept yet (or kept before there was any)

    await first.set_pause_profile("s1", pauses(0.7, 0.2))
    assert await second.get_pause_profile("s1") == pauses(0.7, 0.2)
    assert await second.get_pause_profile("s2") is None
    await second.set_pause_profile("s1", pauses(0.7, 0.2, 0.9, turns=2))
    assert await first.get_pause_profile("s1") == pauses(0.7, 0.2, 0.9, turns=2)


async def test_pause_profile_outlives_a_cleared_context(store: Store) -> None:
    """A persona switch that drops the conversation is still the same person."""
    await store.add_session(session("s1"))
    await store.append_context("s1", chat("hello"), keep_last=10)
    await store.set_pause_profile("s1", pauses(0.8))
    await store.clear_context("s1")
    assert await store.get_context("s1") == []
    assert await store.get_pause_profile("s1") == pauses(0.8)


async def test_pause_profile_lives_as_long_as_its_session(store: Store) -> None:
    """Both sessions are a moment from the end of their retention; a turn extends one of them."""
    for session_id in ("s-quiet", "s-talking"):
        await store.add_session(session(session_id, expires_in_s=-RETENTION_S + 0.3))
        await store.append_context(session_id, chat("hello"), keep_last=10)
        await store.set_pause_profile(session_id, pauses(0.6))
    await store.replace_session(session("s-talking"))  # extended by a full TTL

    async def forgotten() -> bool:
        return await store.get_pause_profile("s-quiet") is None

    await eventually(forgotten)
    assert await store.get_session("s-quiet") is None
    assert await store.get_context("s-quiet") == []
    assert await store.get_pause_profile("s-talking") == pauses(0.6)
    assert [m.content for m in await store.get_context("s-talking")] == ["hello"]


# Rate limits


async def test_hits_count_per_key_across_instances(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    assert (await first.hit("device:dev-1", HOUR)).count == 1
    assert (await second.hit("device:dev-1", HOUR)).count == 2
    third = await first.hit("device:dev-1", HOUR)
    assert third.count == 3
    assert 0 < third.reset_in_s <= HOUR
    assert (await second.hit("device:dev-2", HOUR)).count == 1


async def test_hits_start_over_in_the_next_window(store: Store) -> None:
    first = await store.hit("turns:dev-1", 1)
    assert 0 < first.reset_in_s <= 1
    counts = [first.count]

    async def started_over() -> bool:
        counts.append((await store.hit("turns:dev-1", 1)).count)
        return counts[-1] == 1

    await eventually(started_over)
    assert counts[:-1] == list(range(1, len(counts)))  # counted up within the first window


# Metrics


async def test_interactions_accumulate_per_utc_day(stores: StoreFactory) -> None:
    first, second = stores(), stores()
    today = now().date()
    yesterday = today - timedelta(days=1)
    evening_utc = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=20)
    await first.record_interaction("dev-1", 100.0, evening_utc)
    # 01:00 tomorrow at UTC+05:00 is still 20:00 today in UTC.
    await second.record_interaction("dev-1", 300.5, evening_utc.astimezone(timezone(timedelta(hours=5))))
    await first.record_interaction("dev-1", 50.0, evening_utc - timedelta(days=1))
    await first.record_interaction("dev-2", 10.0, evening_utc)

    assert await second.get_day_metrics("dev-1", today) == DayMetrics(today, 2, 400.5)
    assert await second.get_day_metrics("dev-1", yesterday) == DayMetrics(yesterday, 1, 50.0)
    assert await second.get_day_metrics("dev-3", today) == DayMetrics(today)


# Commands and activities


COMMAND_PAYLOADS: list[CommandPayload] = [
    PersonaSwitchCommand(
        persona_id="entertainer",
        previous_persona_id="companion",
        session_id="sess-1",
        preserve_context=True,
        transition_message=None,
        voice_config=EspeakVoice(voice="en-us+f3", pitch=60),
    ),
    GroupActivityStart(
        activity_id="act-1",
        activity_type="trivia",
        persona_id="entertainer",
        session_id="sess-1",
        device_ids=["dev-1", "dev-2"],
        config={"rounds": 3},
        starts_at="2026-01-19T10:30:01.500000+00:00",
    ),
    SessionHandoff(
        role="from", session_id="sess-1", from_device_id="dev-1", to_device_id="dev-2", persona_id="companion"
    ),
    PlaybackControl(
        event_type="playback_pause",
        activity_id="act-2",
        playback=PlaybackCue(
            media="song.wav",
            media_url="/v1/media/song.wav/content?expires=1&sig=00",
            state="paused",
            position_s=12.5,
            at="2026-01-19T10:30:01.500000+00:00",
            at_ms=1768818601500.0,
            device_at_ms=1768818604500.25,
            uncertainty_ms=0.75,
        ),
    ),
    BroadcastEvent(fields={"room": "dining", "nested": {"a": [1, 2]}}, event_type="meal", event_id="evt-1"),
    OperatorLed(fields={"color": "blue", "brightness": 0.5}),
    OperatorSync(fields={}),
]


def test_command_payloads_cover_the_union() -> None:
    assert {type(p) for p in COMMAND_PAYLOADS} == set(get_args(CommandPayload))


@pytest.mark.parametrize("payload", COMMAND_PAYLOADS, ids=lambda p: type(p).__name__)
async def test_command_saved_updated_and_expired(store: Store, payload: CommandPayload) -> None:
    sent = CommandRecord(command_id="cmd-1", device_id="dev-1", payload=payload, priority=1, sent_at=now())
    await store.save_command(sent, ttl_s=60)
    assert await store.get_command("cmd-1") == sent
    acked = msgspec.structs.replace(sent, acked_at=now(), ack_payload={"ok": True})
    await store.save_command(acked, ttl_s=1)
    assert await store.get_command("cmd-1") == acked
    assert await store.get_command("cmd-unknown") is None

    async def expired() -> bool:
        return await store.get_command("cmd-1") is None

    await eventually(expired)


async def test_activity_saved_and_read(store: Store) -> None:
    activity = ActivityRecord(
        activity_id="act-1",
        activity_type="trivia",
        persona_id="companion",
        device_ids=["dev-1", "dev-2"],
        config={"rounds": 3},
        started_at=now(),
        starts_at=now() + timedelta(seconds=5),
    )
    await store.save_activity(activity)
    assert await store.get_activity("act-1") == activity
    assert await store.get_activity("act-unknown") is None


async def test_blob_stored_read_and_expired(store: Store) -> None:
    audio = bytes(range(256)) * 64
    await store.put_blob("blob-1", audio, ttl_s=1)
    await store.put_blob("blob-2", b"kept", ttl_s=60)
    assert await store.get_blob("blob-1") == audio
    assert await store.get_blob("blob-unknown") is None

    async def expired() -> bool:
        return await store.get_blob("blob-1") is None

    await eventually(expired)
    assert await store.get_blob("blob-2") == b"kept"


async def test_blob_deleted_before_its_ttl(store: Store) -> None:
    await store.put_blob("blob-early", b"audio", ttl_s=60)
    await store.put_blob("blob-stays", b"other", ttl_s=60)
    await store.delete_blob("blob-early")
    await store.delete_blob("blob-unknown")  # nothing to delete: no error
    assert await store.get_blob("blob-early") is None
    assert await store.get_blob("blob-stays") == b"other"


# The memory backend's own housekeeping


async def test_memory_store_forgets_what_expired() -> None:
    store = MemoryStore(session_retention_s=0, sweep_interval_s=0)  # sweep on every write
    for n in range(50):
        await store.set_presence(f"dev-{n}", presence("inst-a"), ttl_s=0.01)
        await store.revoke_token(f"jti-{n}", now() + timedelta(seconds=0.01))
        await store.add_session(session(f"s-{n}", expires_in_s=0.01))
        await store.append_context(f"s-{n}", chat("hi"), keep_last=5)
        await store.set_pause_profile(f"s-{n}", pauses(0.4))
    expiring = (store._presence, store._revoked, store._sessions, store._contexts, store._pauses)

    async def swept() -> bool:
        await store.hit("any", 60)  # a write, which sweeps
        return all(not e._items for e in expiring)

    await eventually(swept)


def grouped(device_id: str, group_id: str | None) -> DeviceRecord:
    return msgspec.structs.replace(device(device_id), group_id=group_id)


async def test_batched_reads_answer_in_order_with_none_for_the_unknown(stores: StoreFactory) -> None:
    writer, reader = stores(), stores()
    await writer.add_device(grouped("dev-1", "floor-1"))
    await writer.add_device(grouped("dev-2", None))
    await writer.set_presence("dev-2", presence("inst-a"), ttl_s=60)
    await writer.update_runtime("dev-1", active_persona_id="p1", active_session_id="s1")
    await writer.add_session(session("s1", "dev-1"))

    devices = await reader.get_devices(["dev-2", "dev-unknown", "dev-1"])
    assert [d.device_id if d else None for d in devices] == ["dev-2", None, "dev-1"]
    assert [p.instance_id if p else None for p in await reader.get_presences(["dev-1", "dev-2"])] == [
        None,
        "inst-a",
    ]
    runtimes = await reader.get_runtimes(["dev-1", "dev-unknown"])
    assert runtimes == [DeviceRuntime(active_persona_id="p1", active_session_id="s1"), DeviceRuntime()]
    assert await reader.get_sessions(["s-unknown", "s1"]) == [None, await reader.get_session("s1")]
    assert await reader.get_devices([]) == []
    assert await reader.get_sessions([]) == []


async def test_activity_saved_with_its_sessions_runtimes_and_commands_at_once(stores: StoreFactory) -> None:
    writer, reader = stores(), stores()
    started = now()
    first, second = session("s-1", "dev-1"), session("s-2", "dev-2")
    command_record = CommandRecord(
        command_id="cmd-1", device_id="dev-1", payload=OperatorSync(fields={}), priority=5, sent_at=started
    )
    activity = ActivityRecord(
        activity_id="act-1",
        activity_type="trivia",
        persona_id="entertainer",
        device_ids=["dev-1", "dev-2"],
        config={},
        started_at=started,
        starts_at=started + timedelta(seconds=1),
        group_id="floor-1",
        session_ids={"dev-1": "s-1", "dev-2": "s-2"},
        returns={"dev-1": Return(session_id="s-0", persona_id="companion")},
    )
    await writer.save_activity(
        activity,
        sessions=[first, second],
        runtimes=[RuntimeChange("dev-1", "s-1", "entertainer", last_activity=started)],
        commands=[command_record],
        command_ttl_s=60,
    )
    assert await reader.get_activity("act-1") == activity
    assert await reader.get_sessions(["s-1", "s-2"]) == [first, second]
    assert [s.session_id for s in await reader.list_sessions("dev-2")] == ["s-2"]
    assert await reader.get_runtime("dev-1") == DeviceRuntime(
        active_persona_id="entertainer", active_session_id="s-1", last_activity=started
    )
    assert await reader.get_command("cmd-1") == command_record

    # Stopped: a runtime change sets both fields (None included) and keeps the last activity.
    stopped = msgspec.structs.replace(activity, status="stopped", ended_at=now())
    await writer.save_activity(stopped, runtimes=[RuntimeChange("dev-1", None, None)])
    assert await reader.get_activity("act-1") == stopped
    assert await reader.get_runtime("dev-1") == DeviceRuntime(last_activity=started)


async def test_activities_listed_oldest_start_first_and_a_stopped_one_kept_for_the_retention(
    stores: StoreFactory,
) -> None:
    writer, reader = stores(), stores()
    base = now()
    for n, offset in ((1, 20), (2, 0), (3, 10)):
        await writer.save_activity(
            ActivityRecord(
                activity_id=f"act-{n}",
                activity_type="story",
                persona_id="storyteller",
                device_ids=["dev-1"],
                config={},
                started_at=base + timedelta(seconds=offset),
                starts_at=base + timedelta(seconds=offset + 1),
            )
        )
    assert [a.activity_id for a in await reader.list_activities()] == ["act-2", "act-3", "act-1"]
    gone = await reader.get_activity("act-3")
    assert gone is not None
    long_ago = base - timedelta(seconds=RETENTION_S + 1)  # stopped longer ago than the retention
    await writer.save_activity(msgspec.structs.replace(gone, status="stopped", ended_at=long_ago))

    async def forgotten() -> bool:
        return [a.activity_id for a in await reader.list_activities()] == ["act-2", "act-1"]

    await eventually(forgotten)
    assert await reader.get_activity("act-3") is None


async def test_save_commands_keeps_each_until_its_ttl(store: Store) -> None:
    records = [
        CommandRecord(
            command_id=f"cmd-{n}",
            device_id="dev-1",
            payload=OperatorSync(fields={}),
            priority=0,
            sent_at=now(),
        )
        for n in range(3)
    ]
    await store.save_commands(records, ttl_s=1)
    assert [await store.get_command(f"cmd-{n}") for n in range(3)] == records

    async def expired() -> bool:
        return await store.get_command("cmd-0") is None

    await eventually(expired)
