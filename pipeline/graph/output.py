"""The paced output: reply audio to the device at real time with a small lead, and barge-in accounting.

Audio of a speculative turn is held until the turn is committed, then sent in
order; a cancelled speculation is dropped without a word to the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from pipecat.frames.frames import Frame, InterruptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.graph.conversation import Conversation
from pipeline.graph.events import SessionListener
from pipeline.graph.frames import CommitTurnFrame, CutDoneFrame, SpeechAudioFrame
from pipeline.graph.timeline import TurnTimeline

BYTES_PER_SAMPLE = 2
SLICE_S = 0.1
"""Reply audio goes to the device in pieces this long, so it never holds more than `lead_s` and a
piece: a voice yields a whole sentence at once, and a cut must leave little of it already sent."""


@dataclass
class Playback:
    """What the device is playing, as far as the server can tell (shared with the listening stage)."""

    play_end: float = 0.0
    """perf_counter time when everything sent so far will have been played."""
    replying: bool = False

    @property
    def bot_speaking(self) -> bool:
        return self.replying or self.play_end > time.perf_counter()


@dataclass
class _Clause:
    text: str
    start: float
    end: float


@dataclass
class _Reply:
    timeline: TurnTimeline | None
    clauses: list[_Clause] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    sample_rate: int = 0
    current_start: float | None = None


class DeviceOutput(FrameProcessor):
    """SpeechAudioFrame → the listener, no more than `lead_s` ahead of real-time playback.

    Pacing keeps the device's buffer small, so a barge-in drops little audio and
    the conversation records what was actually heard: whole clauses played
    before the interruption, plus the played share of the words of the clause
    being played.
    """

    def __init__(
        self,
        *,
        listener: SessionListener,
        conversation: Conversation,
        playback: Playback,
        lead_s: float = 0.3,
    ) -> None:
        super().__init__()
        self._listener = listener
        self._conversation = conversation
        self._playback = playback
        self._lead_s = lead_s
        self._held: list[SpeechAudioFrame] = []
        self._queue: asyncio.Queue[SpeechAudioFrame] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._reply: _Reply | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._finishing_reply: _Reply | None = None
        """A reply fully sent and still playing; a barge-in now still cuts it."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeechAudioFrame):
            if frame.timeline is not None and not frame.timeline.committed:
                self._held.append(frame)
            else:
                self._enqueue(frame)
        elif isinstance(frame, CommitTurnFrame):
            held = [f for f in self._held if f.timeline is frame.timeline]
            self._held = [f for f in self._held if f.timeline is not frame.timeline]
            for held_frame in held:
                self._enqueue(held_frame)
        elif isinstance(frame, InterruptionFrame):
            await self._interrupted()
            await self.push_frame(frame, direction)
        elif isinstance(frame, CutDoneFrame):
            frame.done.set()
        else:
            await self.push_frame(frame, direction)

    def _enqueue(self, frame: SpeechAudioFrame) -> None:
        self._queue.put_nowait(frame)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop(), name="device-output")

    async def _send_loop(self) -> None:
        while not self._queue.empty():
            await self._play(self._queue.get_nowait())

    async def _play(self, frame: SpeechAudioFrame) -> None:
        reply = self._reply
        if reply is None:
            reply = self._reply = _Reply(timeline=frame.timeline, sample_rate=frame.sample_rate)
            self._playback.replying = True
            await self._listener.on_led("speaking")
        step = max(1, round(SLICE_S * frame.sample_rate)) * BYTES_PER_SAMPLE
        for offset in range(0, len(frame.audio), step):
            piece = frame.audio[offset : offset + step]
            wait = self._playback.play_end - time.perf_counter() - self._lead_s
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.perf_counter()
            await self._listener.on_reply_audio(piece, frame.sample_rate, frame.clause, frame.timeline)
            if frame.timeline is not None:
                frame.timeline.mark("first_byte_sent")
            start = max(now, self._playback.play_end)
            if reply.current_start is None:
                reply.current_start = start
            self._playback.play_end = start + len(piece) / (BYTES_PER_SAMPLE * frame.sample_rate)
            reply.audio += piece
            reply.sample_rate = frame.sample_rate
        if frame.clause_done:
            start = reply.current_start if reply.current_start is not None else self._playback.play_end
            reply.clauses.append(_Clause(frame.clause, start, self._playback.play_end))
            reply.current_start = None
        if frame.reply_done:
            self._reply = None
            text = " ".join(c.text for c in reply.clauses if c.text)
            await self._listener.on_reply_done(
                text, bytes(reply.audio), reply.sample_rate or 16000, reply.timeline
            )
            self._finishing_reply = reply
            self._finishing = asyncio.create_task(self._finish(reply, text))

    async def _finish(self, reply: _Reply, text: str) -> None:
        """Once the device has played the whole reply, the turn is over."""
        await asyncio.sleep(max(0.0, self._playback.play_end - time.perf_counter()))
        if self._finishing_reply is reply:
            self._finishing_reply = None
        await self._turn_done(reply, text, interrupted=False)
        if self._reply is None:  # no newer reply has started meanwhile
            self._playback.replying = False
            await self._listener.on_led("listening")

    async def _interrupted(self) -> None:
        """A barge-in (or a cancelled speculation, which has sent nothing: then nothing is said)."""
        now = time.perf_counter()
        self._held.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        await self._cancel(self._sender)
        self._sender = None
        finishing = self._finishing is not None and not self._finishing.done()
        await self._cancel(self._finishing)
        self._finishing = None
        reply = self._reply or (self._finishing_reply if finishing else None)
        self._reply = None
        self._finishing_reply = None
        if reply is None and not self._playback.bot_speaking:
            return
        self._playback.replying = False
        self._playback.play_end = now
        await self._listener.on_stop_playback()
        if reply is not None:
            await self._turn_done(reply, _spoken_text(reply, now), interrupted=True)

    async def _turn_done(self, reply: _Reply, spoken: str, *, interrupted: bool) -> None:
        if reply.timeline is not None:
            reply.timeline.answered = True
            if reply.timeline.retracted:
                return  # the user went on talking: the whole utterance is answered as one later turn
        if reply.timeline is None:
            # A line answering nobody (a transition, a handoff notice) is no turn of the conversation.
            await self._listener.on_turn_done("", spoken, interrupted, None)
            return
        user_text = reply.timeline.user_text
        self._conversation.add("user", user_text)
        self._conversation.add("assistant", spoken)
        await self._listener.on_turn_done(user_text, spoken, interrupted, reply.timeline)

    @staticmethod
    async def _cancel(task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _spoken_text(reply: _Reply, now: float) -> str:
    """The words the device played before `now`: whole clauses, and a share of the one in progress."""
    words: list[str] = []
    for clause in reply.clauses:
        if clause.end <= now:
            words += clause.text.split()
        elif clause.start < now:
            share = (now - clause.start) / max(clause.end - clause.start, 1e-6)
            clause_words = clause.text.split()
            words += clause_words[: int(len(clause_words) * share)]
    return " ".join(words)
