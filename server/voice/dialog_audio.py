"""Audio for the REST dialog: a WAV in, transcribed by the shared Whisper; the reply spoken to a WAV blob."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TYPE_CHECKING

import numpy as np

from pipeline.audio import AudioFormatError, pcm16_from_wav, resample, wav_bytes
from server.errors import ValidationFailed

if TYPE_CHECKING:
    from server.services import Services
    from server.voice.runtime import VoiceRuntime

ASR_RATE = 16_000


async def transcribe_wav_base64(runtime: VoiceRuntime, audio_base64: str) -> str:
    """The words of a base64 WAV file; `ValidationFailed` for audio that is not usable or holds no speech."""
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
    transcript = await runtime.engines.asr.transcribe(samples)
    if not transcript.text.strip():
        raise _invalid("No speech was recognised in the audio", "no_speech")
    return transcript.text.strip()


async def speak_to_url(services: Services, runtime: VoiceRuntime, persona_id: str, text: str) -> str:
    """Speak `text` in the persona's voice; returns the pre-signed path of the WAV."""
    voice = runtime.bindings[persona_id].voice
    chunks = [chunk async for chunk in voice.synthesize(text)]
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    blob_id = f"aud_{secrets.token_hex(12)}"
    await services.store.put_blob(
        blob_id, wav_bytes(pcm, voice.sample_rate), services.settings.audio_url_ttl_s
    )
    return services.audio_urls.path(blob_id)


def _invalid(message: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid request at audio_base64: {message}",
        details={"errors": [{"field": "audio_base64", "reason": message}], "reason": reason},
    )
