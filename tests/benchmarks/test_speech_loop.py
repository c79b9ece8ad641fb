"""A talking device of the capacity benchmark: one utterance, its reply timed, silence until it has played."""

from __future__ import annotations

import time

import numpy as np

from benchmarks.idle.speech_loop import FRAME_SAMPLES, SILENCE, SpeechLoop, spoken
from benchmarks.idle.window import Window
from benchmarks.lib.clips import Clip
from benchmarks.lib.device import Received

SPEECH_FRAMES = 3


def clip() -> Clip:
    pcm = np.full(SPEECH_FRAMES * FRAME_SAMPLES - 100, 1000, dtype=np.int16)
    return Clip("tone", pcm, speech_end_s=len(pcm) / 16_000)


def message(type_: str, **payload: object) -> Received:
    return Received(type_, dict(payload), time.perf_counter(), 0)


def say_everything(loop: SpeechLoop, window: Window) -> list[bytes]:
    return [loop.frame(window) for _ in range(SPEECH_FRAMES)]


def test_a_clip_is_cut_into_padded_frames_with_its_speech_end() -> None:
    cut = spoken(clip())

    assert len(cut.frames) == SPEECH_FRAMES
    assert all(len(frame) == 2 * FRAME_SAMPLES for frame in cut.frames)
    assert cut.end_frame == SPEECH_FRAMES - 1
    assert round(cut.end_after_s * 16_000) == 100


def test_an_utterance_is_counted_and_its_reply_timed_then_the_device_waits_for_playback() -> None:
    loop = SpeechLoop([spoken(clip())], first_at=0.0, gap_s=0.0, reply_timeout_s=10.0)
    window = Window()

    frames = say_everything(loop, window)

    assert SILENCE not in frames
    assert (window.utterances, window.replies_in_flight) == (1, 1)
    assert loop.frame(window) == SILENCE  # awaiting the reply

    loop.on_message(message("audio_response", audio_b64="AAAA", final=False))
    assert len(window.reply_ms) == 1
    assert window.replies_in_flight == 0
    loop.on_message(message("audio_response", final=True))
    assert loop.frame(window) == SILENCE  # the reply is still playing
    loop.on_message(message("led_control", state="listening"))
    assert loop.frame(window) != SILENCE  # the next utterance


def test_no_reply_audio_in_time_is_a_missed_reply() -> None:
    loop = SpeechLoop([spoken(clip())], first_at=0.0, gap_s=0.0, reply_timeout_s=0.0)
    window = Window()

    say_everything(loop, window)
    loop.frame(window)

    assert window.missed_replies == 1
    assert window.replies_in_flight == 0
    assert window.reply_ms == []
