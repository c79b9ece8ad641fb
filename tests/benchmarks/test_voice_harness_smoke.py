"""The voice-to-voice harness against a real voice-enabled server: one short fixture, once.

Full benchmark runs stay out of the test suite; this only shows the harness
measures a real turn and refuses to report a time when no audio comes back.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio_fixtures import FIXTURES_DIR, SAMPLE_RATE
from benchmarks.lib.clips import load_clips
from benchmarks.voice.config import HarnessConfig
from benchmarks.voice.harness import run_harness
from benchmarks.voice.turn import NoAudioError
from tests.support.live_server import LiveServer, live_server, make_settings

SHORT_FIXTURE = FIXTURES_DIR / "thank_you.wav"


@pytest.fixture(scope="module")
def voice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(make_settings(tmp_path_factory.mktemp("harness"), voice_enabled=True)) as live:
        yield live


def config(server: LiveServer, files: list[Path], *, reply_timeout_s: float = 15.0) -> HarnessConfig:
    return HarnessConfig(
        base_url=server.base_url,
        token=server.token(),
        clips=load_clips(files),
        warmup=0,
        reply_timeout_s=reply_timeout_s,
        progress=False,
    )


async def test_one_fixture_gives_a_voice_to_voice_time_and_a_transcript(voice_server: LiveServer) -> None:
    turns, _ = await run_harness(config(voice_server, [SHORT_FIXTURE]))

    assert len(turns) == 1
    turn = turns[0]
    assert turn.voice_to_voice_ms > 0
    assert turn.transcript
    assert turn.wer is not None
    assert turn.wer <= 0.5, turn.transcript
    assert turn.server_ms["first_byte_sent"] > 0
    assert turn.reply_audio_s > 0


async def test_a_turn_without_reply_audio_fails_loudly(voice_server: LiveServer, tmp_path: Path) -> None:
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(bytes(2 * SAMPLE_RATE))

    with pytest.raises(NoAudioError, match="server sent no audio"):
        await run_harness(config(voice_server, [silence], reply_timeout_s=1.5))
