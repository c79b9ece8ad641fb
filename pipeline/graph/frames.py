"""Frames this project adds to pipecat's; control frames keep pipecat's semantics."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from pipecat.frames.frames import DataFrame, SystemFrame

if TYPE_CHECKING:
    from pipeline.graph.timeline import TurnTimeline
    from pipeline.voices import Voice


@dataclass
class UserTurnFrame(DataFrame):
    """A finished user turn: its 16 kHz float32 audio and the turn's timeline so far."""

    audio: np.ndarray = field(repr=False)
    timeline: TurnTimeline
    padding: int = 0
    """Samples of silence appended after the user's audio (not theirs: Whisper decodes better with it)."""


@dataclass
class UserTextFrame(DataFrame):
    """The user's words (a final transcript, or typed text) for the persona to answer."""

    text: str
    timeline: TurnTimeline


@dataclass
class ReplyTextFrame(DataFrame):
    """A piece of the persona's reply as the LLM streams it."""

    text: str
    timeline: TurnTimeline


@dataclass
class ReplyEndFrame(DataFrame):
    """The LLM finished the reply (its full text); the voice flushes what is left."""

    text: str
    timeline: TurnTimeline


@dataclass
class ClauseFrame(DataFrame):
    """One clause for the voice to speak."""

    text: str
    timeline: TurnTimeline | None
    last: bool = False
    """The last clause of the reply (or a standalone line, like a transition message)."""
    voice: Voice | None = None
    """Speak it in this voice rather than the persona's (a reminder said in another persona's voice)."""


@dataclass
class SpeechAudioFrame(DataFrame):
    """A chunk of the persona's speech: int16 mono PCM, with the clause it belongs to."""

    audio: bytes = field(repr=False)
    sample_rate: int
    clause: str
    timeline: TurnTimeline | None
    clause_done: bool = False
    reply_done: bool = False


@dataclass
class CutDoneFrame(SystemFrame):
    """Sent right behind an interruption: the output sets `done` once it has handled the cut, so
    everything the cut reply still had to say (its turn, the words played) has been said by then."""

    done: asyncio.Event = field(repr=False)


@dataclass
class CommitTurnFrame(SystemFrame):
    """The user's turn is over: release the reply prepared for `timeline` (out of band, ahead of data)."""

    timeline: TurnTimeline
