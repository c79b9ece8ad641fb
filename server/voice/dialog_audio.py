"""Audio for the REST dialog: a WAV in, transcribed by the shared Whisper; the reply spoken to a WAV blob.

The voice engines run in this process, so their failure is the server's, not
the client's: it answers 503 `VOICE_UNAVAILABLE` (retryable, in the spec's error
body), never a bare 500.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from typing import TYPE_CHECKING

import numpy as np

from pipeline.audio import AudioFormatError, pcm16_from_wav, resample, wav_bytes
from pipeline.engines.asr import ASRError, Float32Array, Transcript, TurnRecognizer
from pipeline.voices.base import VoiceError
from server.errors import ApiError, ValidationFailed

if TYPE_CHECKING:
    from server.audio_urls import AudioUrlSigner
    from server.voice.reply_audio import ReplyAudio
    from server.voice.runtime import VoiceRuntime

log = logging.getLogger(__name__)

ASR_RATE = 16_000
DEFAULT_MAX_AUDIO_S = 30.0
PIECE_S = 8.0
"""The longest piece of a recording given to the shared recogniser at once."""
_CUT_SEARCH_S = 2.0
_CUT_FRAME_S = 0.02


class VoiceUnavailable(ApiError):
    """The speech recognizer or the persona's voice failed on a dialog turn; nothing was recorded."""

    status_code = 503
    error_code = "VOICE_UNAVAILABLE"


class DialogAudio:
    """The REST dialog's ears and mouth: `transcribe` a base64 WAV, `speak` a reply to a pre-signed WAV."""

    def __init__(
        self,
        *,
        runtime: VoiceRuntime,
        reply_audio: ReplyAudio,
        audio_urls: AudioUrlSigner,
        max_audio_s: float = DEFAULT_MAX_AUDIO_S,
    ) -> None:
        self._max_audio_s = max_audio_s
        self._runtime = runtime
        self._reply_audio = reply_audio
        self._audio_urls = audio_urls

    async def transcribe(self, audio_base64: str, *, owner: str) -> str:
        """The words of a base64 WAV file, the recogniser's time charged to `owner` (the device).

        `ValidationFailed` for audio that is not usable, longer than `max_audio_s` or holds no
        speech; `VoiceUnavailable` when the recognizer fails. Audio longer than `PIECE_S` goes
        to the shared recogniser one piece at a time (cut where it is quietest), so another
        device's turn never waits for more than one piece.
        """
        try:
            data = base64.b64decode(audio_base64, validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("audio_base64 is not valid base64", "invalid_base64") from None
        try:
            pcm, rate = pcm16_from_wav(data)
        except AudioFormatError as exc:
            raise _invalid(str(exc), exc.reason) from None
        if len(pcm) == 0:
            raise _invalid("The audio is empty", "empty")
        if len(pcm) > self._max_audio_s * rate:
            raise _invalid(
                f"The audio is {len(pcm) / rate:.1f} s long; at most {self._max_audio_s:g} s is taken",
                "too_long",
            )
        samples = resample(pcm, rate, ASR_RATE).astype(np.float32) / 32768.0
        texts = []
        for piece in pieces(samples, ASR_RATE):
            try:
                transcript = await self._transcribe_piece(piece, owner)
            except (ASRError, RuntimeError) as exc:  # RuntimeError: the engine's workers are shut down
                log.warning("dialog transcription failed: %s", type(exc).__name__)
                raise _unavailable("transcription", "The speech recognizer failed on the audio") from None
            texts.append(transcript.text.strip())
        text = " ".join(t for t in texts if t)
        if not text:
            raise _invalid("No speech was recognised in the audio", "no_speech")
        return text

    async def _transcribe_piece(self, piece: Float32Array, owner: str) -> Transcript:
        asr = self._runtime.engines.asr
        if isinstance(asr, TurnRecognizer):  # the shared Whisper: charged to the device (fair share)
            return await asr.transcribe_turn(piece, None, owner=owner)
        return await asr.transcribe(piece)

    async def speak(self, persona_id: str, text: str, *, device_id: str) -> str:
        """Speak `text` in the persona's voice; returns the pre-signed path (with query) of the WAV, kept
        as the device's reply audio."""
        binding = self._runtime.bindings.get(persona_id)
        if binding is None:  # a session naming a persona no longer in the library
            raise _unavailable("synthesis", f"Persona '{persona_id}' has no voice on this server")
        voice = binding.voice
        try:
            chunks = [chunk async for chunk in voice.synthesize(text)]
        except (VoiceError, RuntimeError) as exc:  # RuntimeError: the voice bank is closed
            log.warning("dialog synthesis failed: persona=%s %s", persona_id, type(exc).__name__)
            raise _unavailable("synthesis", "The persona's voice failed to speak the reply") from None
        pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        blob_id = f"aud_{secrets.token_hex(12)}"
        await self._reply_audio.keep(device_id, blob_id, wav_bytes(pcm, voice.sample_rate))
        return self._audio_urls.path(blob_id)


def pieces(samples: Float32Array, rate: int, piece_s: float = PIECE_S) -> list[Float32Array]:
    """`samples` cut into pieces of at most `piece_s`, each cut at the quietest 20 ms in the last
    `_CUT_SEARCH_S` before the limit (a pause between words, where there is one)."""
    longest = int(piece_s * rate)
    frame = max(1, int(_CUT_FRAME_S * rate))
    search = int(_CUT_SEARCH_S * rate) // frame
    out: list[Float32Array] = []
    start = 0
    while len(samples) - start > longest:
        window = samples[start + longest - search * frame : start + longest]
        energy = np.square(window.reshape(search, frame)).sum(axis=1)
        cut = start + longest - (search - int(np.argmin(energy))) * frame + frame // 2
        out.append(samples[start:cut])
        start = cut
    out.append(samples[start:])
    return out


def _invalid(message: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request at audio_base64: {message}",
        details={"errors": [{"field": "audio_base64", "reason": message}], "reason": reason},
    )


def _unavailable(stage: str, message: str) -> VoiceUnavailable:
    return VoiceUnavailable(message, details={"stage": stage, "retryable": True})
