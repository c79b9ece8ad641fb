"""A WebRTC microphone's audio into the listening stage (server/webrtc/tracks.py: `read_microphone`).

aiortc decodes Opus at 48 kHz; the listening stage works at 16 kHz. A device's speech must reach
the stage whole, frame by frame, as a WebSocket device's 16 kHz frames do: nothing held back in a
resampler, so the VAD hears the end of speech with the frame that carries it.
"""

from __future__ import annotations

import asyncio
import fractions

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from pipeline.audio import StreamResampler
from server.webrtc.tracks import RATE, SAMPLES, read_microphone
from server.ws.transport import MicAudio

LISTEN_RATE = 16_000


class _Microphone(MediaStreamTrack):
    """A peer's decoded microphone track: the given 20 ms frames at 48 kHz, then the end."""

    kind = "audio"

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__()
        self._frames = list(frames)
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if not self._frames:
            raise MediaStreamError
        frame = AudioFrame.from_ndarray(self._frames.pop(0).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._pts, fractions.Fraction(1, RATE)
        self._pts += SAMPLES
        return frame


def _tone(hz: float, frames: int) -> list[np.ndarray]:
    t = np.arange(frames * SAMPLES) / RATE
    pcm = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return [pcm[i : i + SAMPLES] for i in range(0, len(pcm), SAMPLES)]


async def _heard(frames: list[np.ndarray]) -> tuple[list[MicAudio], np.ndarray]:
    """What the peer delivers, and what the listening stage makes of it (its resampler, as `feed`)."""
    delivered: list[MicAudio] = []
    await asyncio.wait_for(read_microphone(_Microphone(frames), delivered.append), 5)
    stage = StreamResampler(LISTEN_RATE)
    return delivered, np.concatenate([stage.process(a.pcm, a.sample_rate) for a in delivered])


async def test_each_frame_reaches_the_listening_stage_whole_and_at_once() -> None:
    delivered, heard = await _heard(_tone(440, 10))
    assert len(delivered) == 10
    # Every 20 ms frame gives the stage its 20 ms at 16 kHz as it comes: nothing is held back.
    assert [len(a.pcm) * RATE // a.sample_rate for a in delivered] == [SAMPLES] * 10
    assert len(heard) == 10 * SAMPLES * LISTEN_RATE // RATE
    # The tone's last 20 ms is in it (less the filter's few ms), at its level.
    last = heard[-LISTEN_RATE // 50 :]
    loud = np.flatnonzero(np.abs(last) > 4000)
    assert loud.size, "the last frame's speech reached the stage with that frame"
    assert loud[-1] >= len(last) - LISTEN_RATE * 5 // 1000, "up to within 5 ms of its end"
    assert 7000 <= int(np.abs(heard[LISTEN_RATE // 50 :]).max()) <= 8500, "at its level"


async def test_what_16_khz_cannot_carry_is_filtered_out_not_folded_in() -> None:
    # 12 kHz would alias to 4 kHz at 16 kHz without a low-pass.
    _, heard = await _heard(_tone(12_000, 10))
    assert int(np.abs(heard[LISTEN_RATE // 50 :]).max()) < 30
