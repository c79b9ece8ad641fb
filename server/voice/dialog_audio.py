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
from pipeline.engines.asr import ASRError
from pipeline.voices.base import VoiceError
from server.errors import ApiError, ValidationFailed

if TYPE_CHECKING:
    from server.audio_urls import AudioUrlSigner
    from server.state.base import Store
    from server.voice.runtime import VoiceRuntime

log = logging.getLogger(__name__)

ASR_RATE = 16_000


class VoiceUnavailable(ApiError):
    """The speech recognizer or the persona's voice failed on a dialog turn; nothing was recorded."""

    status_code = 503
    error_code = "VOICE_UNAVAILABLE"


class DialogAudio:
    """The REST dialog's ears and mouth: `transcribe` a base64 WAV, `speak` a reply to a pre-signed WAV."""

    def __init__(
        self, *, runtime: VoiceRuntime, store: Store, audio_urls: AudioUrlSigner, audio_ttl_s: int
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._audio_urls = audio_urls
        self._audio_ttl_s = audio_ttl_s

    async def transcribe(self, audio_base64: str) -> str:
        """The words of a base64 WAV file; `ValidationFailed` for audio that is not usable or holds no
        speech, `VoiceUnavailable` when the recognizer fails."""
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
        samples = resample(pcm, rate, ASR_RATE).astype(np.float32) / 32768.0
        try:
            transcript = await self._runtime.engines.asr.transcribe(samples)
        except (ASRError, RuntimeError) as exc:  # RuntimeError: the engine's workers are shut down
            log.warning("dialog transcription failed: %s", type(exc).__name__)
            raise _unavailable("transcription", "The speech recognizer failed on the audio") from None
        if not transcript.text.strip():
            raise _invalid("No speech was recognised in the audio", "no_speech")
        return transcript.text.strip()

    async def speak(self, persona_id: str, text: str) -> str:
        """Speak `text` in the persona's voice; returns the pre-signed path (with query) of the WAV."""
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
        await self._store.put_blob(blob_id, wav_bytes(pcm, voice.sample_rate), self._audio_ttl_s)
        return self._audio_urls.path(blob_id)


def _invalid(message: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request at audio_base64: {message}",
        details={"errors": [{"field": "audio_base64", "reason": message}], "reason": reason},
    )


def _unavailable(stage: str, message: str) -> VoiceUnavailable:
    return VoiceUnavailable(message, details={"stage": stage, "retryable": True})
