"""The harness's driver for the stock pipecat bot: pipecat's protobuf frames and RTVI messages.

What goes out: each 20 ms microphone frame as a protobuf `Frame` holding an
`AudioRawFrame` (16 kHz, mono), which `ProtobufFrameSerializer` reads as an
`InputAudioRawFrame`; and, once connected, RTVI `client-ready`, answered with
`bot-ready` when the connection's pipeline is running (its models loaded), so
the microphone starts only then.

What comes back, and how the harness reads it:

- **first reply audio**: the first `AudioRawFrame` (an `OutputAudioRawFrame`)
  after the bot heard the utterance begin (RTVI `user-started-speaking`), so
  the tail of an earlier reply can never be taken for it;
- **end of the reply**: RTVI `bot-stopped-speaking` (stock: sent by pipecat's
  RTVI observer on `BotStoppedSpeakingFrame`, which the output transport emits
  once its audio has stopped for 0.35 s) after the first audio, with the
  speaker's turns all answered, followed by 1 s without new audio or
  `bot-started-speaking` (a slow sentence can make pipecat stop and start again
  within one reply); the next turn starts after it, so it is not a barge-in.
  A bot that ends the turn early (at a pause inside the utterance) starts a
  reply, is interrupted by the rest of the utterance (`user-started-speaking`,
  `bot-stopped-speaking`) and then answers that: the turn's reply ends only
  after the answer to the rest;
- **transcript**: RTVI `user-transcription` messages with `final` true
  (pipecat's serializer could carry a `TranscriptionFrame`, but the output
  transport does not send them; RTVI does);
- **reply text**: the RTVI `bot-llm-text` pieces of the reply;
- no per-stage server breakdown (`server_ms` stays empty);
- **which reply** a piece of audio belongs to (`reply_audio`, for
  `benchmarks.lib.attribution`): the user turn it answers, counted by the
  `user-stopped-speaking` messages before it (pipecat ends a turn there).

Each message is kept with its arrival time by `DeviceSocket`'s reader; audio
is kept as its length and rate only.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import websockets
from pipecat.frames.protobufs import frames_pb2  # type: ignore[attr-defined]

from benchmarks.lib.attribution import ReplyAudio
from benchmarks.lib.device import (
    CONNECT_TIMEOUT_S,
    MAX_MESSAGE_BYTES,
    DeviceError,
    DeviceSocket,
    Received,
    of_type,
    ws_base,
)
from benchmarks.lib.voice_link import FINAL_TIMEOUT_S, Reply

PATH = "/ws"
RTVI_LABEL = "rtvi-ai"
RTVI_VERSION = "2.2.0"
"""The RTVI protocol version pipecat 1.14 speaks (`RTVI.PROTOCOL_VERSION`)."""
AUDIO = "audio"
END_OF_REPLY = "bot-stopped-speaking"
QUIET_S = 1.0
"""After `bot-stopped-speaking`, this long without new audio ends the reply."""
_numbers = itertools.count()


class PipecatSocket(DeviceSocket):
    """A WebSocket to the pipecat bot: protobuf frames in and out, RTVI messages by their type."""

    def __init__(self, connection: Any, device_id: str, *, sample_rate: int = 16_000) -> None:
        self._rate = sample_rate
        super().__init__(connection, device_id)

    @classmethod
    async def open(cls, base_url: str, *, sample_rate: int = 16_000) -> PipecatSocket:
        """Connect, say RTVI `client-ready` and wait for `bot-ready` (the pipeline is up)."""
        connection = await websockets.connect(
            f"{ws_base(base_url)}{PATH}",
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            proxy=None,
            ping_interval=None,
        )
        socket = cls(connection, f"pipecat-{next(_numbers)}", sample_rate=sample_rate)
        try:
            await socket.send("client-ready", {"version": RTVI_VERSION, "about": {"library": "benchmarks"}})
            await socket.wait_for(of_type("bot-ready"), timeout=CONNECT_TIMEOUT_S)
        except BaseException:
            await socket.close()  # a connection that never became ready must not linger on the bot
            raise
        return socket

    def decode(self, raw: str | bytes) -> tuple[str, dict[str, Any]] | None:
        frame = frames_pb2.Frame.FromString(raw if isinstance(raw, bytes) else raw.encode())
        which = frame.WhichOneof("frame")
        if which == "audio":
            return AUDIO, {"bytes": len(frame.audio.audio), "sample_rate": frame.audio.sample_rate}
        if which == "message":
            message = json.loads(frame.message.data)
            if message.get("label") != RTVI_LABEL:
                return "message", {"data": message}
            data = message.get("data")
            return str(message.get("type")), data if isinstance(data, dict) else {}
        if which in ("text", "transcription"):
            return which, {"text": getattr(frame, which).text}
        return (which, {}) if which else None

    async def send(self, type_: str, payload: Any) -> None:
        """An RTVI client message (`client-ready`, …) as a protobuf `MessageFrame`."""
        message = {"label": RTVI_LABEL, "type": type_, "id": uuid.uuid4().hex[:8], "data": payload}
        frame = frames_pb2.Frame(message=frames_pb2.MessageFrame(data=json.dumps(message)))
        await self.connection.send(frame.SerializeToString())

    async def send_audio(self, pcm16: bytes) -> None:
        frame = frames_pb2.Frame(
            audio=frames_pb2.AudioRawFrame(audio=pcm16, sample_rate=self._rate, num_channels=1)
        )
        await self.connection.send(frame.SerializeToString())


class PipecatLink:
    """The `VoiceLink` of the stock pipecat bot."""

    def __init__(self, socket: PipecatSocket) -> None:
        self.socket = socket

    @classmethod
    async def open(cls, base_url: str) -> PipecatLink:
        return cls(await PipecatSocket.open(base_url))

    @property
    def device_id(self) -> str:
        return self.socket.device_id

    async def send_audio(self, pcm16: bytes) -> None:
        await self.socket.send_audio(pcm16)

    def mark(self) -> int:
        return self.socket.mark()

    async def first_audio(self, *, since: int, timeout: float) -> Received:  # noqa: ASYNC109  # a per-turn deadline
        socket = self.socket
        heard = await socket.wait_for(of_type("user-started-speaking"), since=since, timeout=timeout)
        return await socket.wait_for(_has_audio, since=heard.index + 1, timeout=timeout)

    async def reply(self, *, since: int, first: Received) -> Reply:
        socket = self.socket
        end = await self._end(since, first)
        in_reply = socket.messages[since : end.index + 1]
        audio_s = sum(
            m.payload["bytes"] / 2 / (m.payload["sample_rate"] or 1) for m in in_reply if _has_audio(m)
        )
        transcripts = [
            str(m.payload.get("text", ""))
            for m in in_reply
            if m.type == "user-transcription" and m.payload.get("final")
        ]
        text = "".join(str(m.payload.get("text", "")) for m in in_reply if m.type == "bot-llm-text")
        return Reply(audio_s=audio_s, transcripts=transcripts, reply_text=text.strip(), server_ms={})

    async def _end(self, turn: int, first: Received) -> Received:
        """The `bot-stopped-speaking`, with every turn of the speaker since `turn` answered, after which
        the bot stays quiet for `QUIET_S`.

        A pause in the audio longer than the output transport's 0.35 s (the next
        sentence not synthesized in time) makes pipecat say it stopped and then
        started again within one reply; only a stop that stays quiet ends it.
        A stop while an answer is still due (the speaker interrupted the reply)
        never ends it, however long that answer takes to start.
        """
        messages = self.socket.messages

        def ends(message: Received) -> bool:
            return message.type == END_OF_REPLY and answered(messages[turn : message.index + 1])

        since = first.index + 1
        while True:
            try:
                end = await self.socket.wait_for(ends, since=since, timeout=FINAL_TIMEOUT_S)
            except DeviceError as exc:
                raise DeviceError(f"no {END_OF_REPLY} after the reply's first audio: {exc}") from None
            try:
                resumed = await self.socket.wait_for(_speaks, since=end.index + 1, timeout=QUIET_S)
            except DeviceError:
                return end
            since = resumed.index + 1

    def reply_audio(self, since: int) -> list[ReplyAudio]:
        return pipecat_reply_audio(self.socket.messages[since:])

    def seen(self, since: int) -> list[str]:
        return [m.type for m in self.socket.messages[since:] if m.type not in (AUDIO, "metrics")]

    async def close(self) -> None:
        await self.socket.close()


def answered(messages: list[Received]) -> bool:
    """Whether, after these RTVI messages, the bot owes the speaker nothing: it is not speaking, the
    speaker is not in a turn, and every turn the bot ended (`user-stopped-speaking`) was followed by
    `bot-started-speaking`."""
    speaking = in_turn = due = False
    for message in messages:
        match message.type:
            case "bot-started-speaking":
                speaking, due = True, False
            case "bot-stopped-speaking":
                speaking = False
            case "user-started-speaking":
                in_turn = True
            case "user-stopped-speaking":
                in_turn, due = False, True
    return not (speaking or in_turn or due)


def pipecat_reply_audio(messages: list[Received]) -> list[ReplyAudio]:
    """The bot's audio, each piece keyed by the user turn it answers (the `user-stopped-speaking`
    messages before it): an utterance pipecat ends twice gets two replies. Audio before the bot
    heard the speaker begin (`user-started-speaking`) is the tail of an earlier reply: left out."""
    turns = 0
    heard = False
    audio = []
    for message in messages:
        if message.type == "user-started-speaking":
            heard = True
        elif message.type == "user-stopped-speaking":
            turns += 1
        elif heard and _has_audio(message):
            seconds = message.payload["bytes"] / 2 / (message.payload["sample_rate"] or 1)
            audio.append(ReplyAudio(message.at, seconds, turns, message.index))
    return audio


def _speaks(message: Received) -> bool:
    return message.type == "bot-started-speaking" or _has_audio(message)


def _has_audio(message: Received) -> bool:
    return message.type == AUDIO and message.payload.get("bytes", 0) > 0
