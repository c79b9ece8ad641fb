"""The WebRTC reply track's pacing (server/webrtc/tracks.py), on the real track as aiortc's sender reads it.

A reply queued while the track waits to send silence goes at once, not at the next 20 ms slot; the
track's schedule (its RTP clock) never runs ahead of time once the reply is over.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from av import AudioFrame

from server.webrtc.tracks import RATE, SAMPLES, ReplyTrack

SLOT_S = SAMPLES / RATE


def _reply(frames: int) -> bytes:
    """Loud 48 kHz PCM16 mono, `frames` 20 ms frames of it."""
    return np.full(frames * SAMPLES, 8000, dtype="<i2").tobytes()


async def test_a_reply_goes_at_once_not_at_the_next_silent_slot() -> None:
    track = ReplyTrack()
    started = time.monotonic()  # no later than the track's own start, so its slots are no earlier
    await track.recv()
    await track.recv()  # the first silent frame, at its slot
    waiting = asyncio.create_task(track.recv())  # silence, due one slot later
    await asyncio.sleep(0)
    track.play(_reply(3), RATE)
    frame = await waiting
    sent = time.monotonic()
    assert isinstance(frame, AudioFrame), "the reply's first frame, not the silent one"
    assert int(np.abs(frame.to_ndarray()).max()) == 8000
    assert frame.pts is not None
    # Before the slot the silent frame had: the reply did not wait for it.
    assert sent < started + frame.pts / RATE
    track.stop()


async def test_after_a_reply_the_track_keeps_its_schedule() -> None:
    track = ReplyTrack()
    started = time.monotonic()
    await track.recv()
    await track.recv()
    waiting = asyncio.create_task(track.recv())
    await asyncio.sleep(0)
    track.play(_reply(3), RATE)
    frames = [await waiting]
    frames += [await track.recv() for _ in range(2)]
    assert all(isinstance(f, AudioFrame) for f in frames), "the three frames of the reply"
    # Silence again: every frame leaves no earlier than its slot, so the reply's head start is given
    # back and the RTP timestamps never run ahead of the clock.
    for _ in range(3):
        silent = await track.recv()
        assert not isinstance(silent, AudioFrame)
        assert silent.pts is not None
        assert time.monotonic() >= started + silent.pts / RATE
    track.stop()


async def _reply_frames(track: ReplyTrack) -> list[np.ndarray]:
    """The frames of the reply playing now, up to the first silent frame (aiortc's pre-encoded packet)."""
    frames = []
    while isinstance(frame := await track.recv(), AudioFrame):
        frames.append(frame.to_ndarray().reshape(-1))
    return frames


async def test_a_reply_plays_whole_in_its_turn_and_the_next_starts_with_its_own_audio() -> None:
    # A voice's rate (22,050 Hz) in 100 ms pieces, as the voice loop hands them over: the 48 kHz
    # resampler holds back part of each piece, and what it holds at the end belongs to this reply.
    rate, piece = 22_050, 2_205
    track = ReplyTrack()
    await track.recv()
    for _ in range(3):
        track.play(np.full(piece, 8000, dtype="<i2").tobytes(), rate)
    first = np.concatenate(await _reply_frames(track))
    assert int(np.count_nonzero(np.abs(first) > 4000)) >= 3 * piece * RATE // rate - SAMPLES // 10, (
        "all 300 ms of the reply played before the track fell silent"
    )
    # The next reply opens with 60 ms of digital silence: nothing of the last one may come out first.
    track.play(
        np.concatenate([np.zeros(3 * piece // 5, dtype="<i2"), np.full(piece, -8000, dtype="<i2")]).tobytes(),
        rate,
    )
    second = np.concatenate(await _reply_frames(track))
    opening = second[: 2 * SAMPLES]
    assert int(np.abs(opening).max()) < 100, "the reply's own silence first, no tail of the one before"
    loud = np.flatnonzero(np.abs(second) > 4000)
    assert loud.size, "the second reply's voice played"
    assert loud[0] == pytest.approx(60 * RATE // 1000, abs=SAMPLES // 20), "its voice 60 ms in"
    track.stop()
