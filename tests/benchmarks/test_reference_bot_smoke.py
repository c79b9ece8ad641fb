"""The stock pipecat reference bot, driven by the voice harness: one short fixture, once.

Shows the bot runs offline with this server's models, answers with audio and
the same scripted text this server would say, and that the harness's pipecat
driver times it; and that the device capacity run streams silence to it and
probes it. Full comparisons stay in `benchmarks/`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audio_fixtures import FIXTURES_DIR
from benchmarks.idle import capacity as idle_capacity
from benchmarks.lib.clips import load_clips
from benchmarks.lib.targets import Target
from benchmarks.reference.bot_process import RunningBot, running_reference_bot
from benchmarks.reference.scripted_llm import default_responder
from benchmarks.voice.config import HarnessConfig
from benchmarks.voice.harness import run_harness
from pipeline.llm import ChatMessage
from tests.support.wer import word_error_rate

SHORT_FIXTURE = FIXTURES_DIR / "thank_you.wav"
PROBE_TEXT = "Hello, how are you today?"
"""What the capacity run's probe says (`idle_capacity.PROBE_CLIP`)."""


@pytest.fixture(scope="module")
def reference_bot() -> Iterator[RunningBot]:
    with running_reference_bot() as bot:
        yield bot


async def test_the_reference_bot_answers_a_fixture_with_audio(reference_bot: RunningBot) -> None:
    config = HarnessConfig(
        base_url=reference_bot.base_url,
        token="",
        clips=load_clips([SHORT_FIXTURE]),
        warmup=0,
        progress=False,
        target="pipecat",
    )

    turns, _ = await run_harness(config)

    assert len(turns) == 1
    turn = turns[0]
    assert turn.voice_to_voice_ms > 0
    assert turn.reply_audio_s > 0
    assert turn.transcript_available
    assert turn.wer is not None
    assert turn.wer <= 0.5, turn.transcript
    expected = default_responder().reply_to([ChatMessage(role="user", content=turn.transcript)])
    assert turn.reply_text == expected
    health = reference_bot.health()
    assert health["connections"] == 1
    assert health["service_build_s"][0] > 0


async def test_the_reference_bot_takes_no_persona(reference_bot: RunningBot) -> None:
    config = HarnessConfig(
        base_url=reference_bot.base_url,
        token="",
        clips=load_clips([SHORT_FIXTURE]),
        persona="storyteller",
        target="pipecat",
    )

    with pytest.raises(ValueError, match="default persona only"):
        await run_harness(config)


async def test_the_idle_capacity_run_streams_silence_to_the_bot_and_probes_it(
    reference_bot: RunningBot,
) -> None:
    args = idle_capacity._parser().parse_args(
        ["--target", "pipecat", "--steps", "1,2", "--duration", "1", "--settle", "0.5"]
    )
    target = Target(base_url=reference_bot.base_url, token="", pid=reference_bot.pid, kind="pipecat")

    ladder = await idle_capacity.run_steps(target, args)

    assert [step.devices for step in ladder.steps] == [1, 2]
    for step in ladder.steps:
        # What the bot did; whether the step kept up also asks whether this client kept real time,
        # which a busy machine decides, not the bot (`idle_report`'s INCONCLUSIVE).
        assert step.connect_failures == []
        assert step.closed_sockets == []
        assert step.probe is not None
        assert step.probe.error is None
        assert step.probe.voice_to_voice_ms is not None
        # The reply is to this turn's utterance, all of it (stock pipecat may end the turn at the
        # comma and answer "Hello?" first; then its answer to the rest is part of the turn), not
        # the tail of the last turn's reply.
        assert step.probe.heard is not None
        heard = " ".join(step.probe.heard)
        assert word_error_rate(PROBE_TEXT, heard) <= 0.5, step.probe.heard
        assert step.rss_per_device_kb is not None
        assert step.rss_per_device_kb > 10_000  # each connection loads its own models
        assert step.heartbeats_sent == 0
