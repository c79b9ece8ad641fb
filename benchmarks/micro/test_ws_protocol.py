"""Device WebSocket messages: decoding what a device sends, encoding what the server sends back.

Incoming messages go through `protocol.decode` (one msgspec decoder for the
tagged union); an `audio_stream` then has its base64 turned into PCM16 as
`VoiceLink.audio_message` does. Outgoing ones are built as `DeviceVoice` builds
them (typed messages of `server.ws.messages`) and encoded by `messages.encode_message`,
the bytes the socket's writer sends.
"""

from __future__ import annotations

import base64
import json

import numpy as np
from pytest_benchmark.fixture import BenchmarkFixture

from pipeline.audio import pcm16_from_base64
from server.settings import Settings
from server.ws import messages, protocol

MIC_RATE = 16_000
FRAME_S = 0.02
"""A device's microphone frame: 20 ms of PCM16 at 16 kHz, 640 bytes (856 base64 characters)."""
VOICE_RATE = 22_050
CHUNK_S = 1.5
"""A reply chunk: Piper yields one per sentence; "Hello again, I'm here now." is 1.5-2 s."""
TIMESTAMP = "2026-11-25T21:00:00.123Z"


def _pcm(seconds: float, rate: int) -> bytes:
    rng = np.random.default_rng(7)
    return (rng.normal(0, 3000, round(seconds * rate)).clip(-32768, 32767)).astype("<i2").tobytes()


def _message(type_: str, payload: dict[str, object]) -> bytes:
    return json.dumps({"type": type_, "payload": payload, "timestamp": TIMESTAMP}).encode()


AUDIO_STREAM = _message(
    "audio_stream", {"audio_b64": base64.b64encode(_pcm(FRAME_S, MIC_RATE)).decode(), "sample_rate": MIC_RATE}
)
HEARTBEAT = _message("heartbeat", {"status": "online"})
REPLY_AUDIO = _pcm(CHUNK_S, VOICE_RATE)


def test_decode_audio_stream(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "ws protocol"
    message = benchmark(protocol.decode, AUDIO_STREAM)
    assert isinstance(message, protocol.AudioStream)
    benchmark.extra_info.update(
        measures="protocol.decode of an audio_stream with 20 ms of 16 kHz PCM16",
        message_bytes=len(AUDIO_STREAM),
    )


def test_decode_audio_stream_to_pcm(benchmark: BenchmarkFixture, settings: Settings) -> None:
    max_bytes = settings.max_audio_chunk_bytes

    def decode() -> int:
        message = protocol.decode(AUDIO_STREAM)
        assert isinstance(message, protocol.AudioStream)
        return len(pcm16_from_base64(message.payload.audio_b64, max_bytes=max_bytes))

    benchmark.group = "ws protocol"
    assert benchmark(decode) == round(FRAME_S * MIC_RATE)
    benchmark.extra_info.update(
        measures="protocol.decode + pcm16_from_base64 (VoiceLink.audio_message before the VAD)",
        message_bytes=len(AUDIO_STREAM),
    )


def test_decode_heartbeat(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "ws protocol"
    assert isinstance(benchmark(protocol.decode, HEARTBEAT), protocol.Heartbeat)
    benchmark.extra_info.update(measures="protocol.decode of a heartbeat", message_bytes=len(HEARTBEAT))


def test_encode_audio_response(benchmark: BenchmarkFixture) -> None:
    def encode() -> bytes:
        # The message DeviceVoice.on_reply_audio sends for one chunk.
        payload = messages.AudioChunkPayload(
            seq=12,
            text="Hello again, I'm here now.",
            audio_b64=base64.b64encode(REPLY_AUDIO).decode(),
            sample_rate=VOICE_RATE,
            turn_id=3,
        )
        return messages.encode_message(messages.AudioChunk(payload=payload))

    benchmark.group = "ws protocol"
    size = len(benchmark(encode))
    benchmark.extra_info.update(
        measures=f"base64 + encode_message of an audio_response chunk: {CHUNK_S} s at {VOICE_RATE} Hz",
        audio_bytes=len(REPLY_AUDIO),
        message_bytes=size,
    )


def test_encode_transcript(benchmark: BenchmarkFixture) -> None:
    payload = messages.TranscriptPayload(text="Could you remind me to call my daughter at five?", turn_id=3)
    benchmark.group = "ws protocol"
    size = len(benchmark(messages.encode_message, messages.Transcript(payload=payload)))
    benchmark.extra_info.update(measures="messages.encode_message of a final transcript", message_bytes=size)
