"""Dialog endpoint (§8.5): one text or audio turn through the persona's LLM engine and voice."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from server.auth import require_device_access
from server.controllers.common import AnyRequest, principal_of, public_base_url, services_of
from server.errors import NotSupported, ValidationFailed
from server.request_ids import received_at
from server.schemas.dialog import DialogSendRequest, DialogSendResponse
from server.services.clock import elapsed_ms
from server.voice.dialog_audio import speak_to_url, transcribe_wav_base64


class DialogController(Controller):
    path = "/dialog"
    tags = ["dialog"]

    @post("/send", summary="Send a message", status_code=HTTP_200_OK)
    async def send(self, request: AnyRequest, data: JSONBody[DialogSendRequest]) -> DialogSendResponse:
        """Runs a real turn. `LLM_API_ERROR` (502) when the persona's engine fails.

        With `audio_base64` (a base64 WAV, 16-bit PCM at a supported rate) the
        audio is transcribed and the reply is also spoken in the persona's voice:
        `response_audio_url` is a pre-signed, expiring URL of the WAV. A text turn
        answers in text only.
        """
        require_device_access(principal_of(request), data.device_id)
        services = services_of(request)
        started = received_at(request.scope)
        text = data.message
        if data.audio_base64 is None and not text.strip():
            raise ValidationFailed(
                "Invalid request at message: must not be empty",
                details={"errors": [{"field": "message", "reason": "must not be empty"}]},
            )
        await services.devices.get(data.device_id)
        if data.audio_base64 is not None:
            if services.voice is None:
                raise NotSupported("Audio is not processed: this server runs without its voice models")
            text = await transcribe_wav_base64(services.voice, data.audio_base64)
        result = await services.dialog.run_turn(
            device_id=data.device_id, text=text, session_id=data.session_id, started=started
        )
        audio_url = None
        if data.audio_base64 is not None and services.voice is not None:
            path = await speak_to_url(services, services.voice, result.persona_id, result.text)
            audio_url = public_base_url(request) + path
        return DialogSendResponse(
            session_id=result.session.session_id,
            response_text=result.text,
            response_audio_url=audio_url,
            persona_id=result.persona_id,
            latency_ms=round(elapsed_ms(started)),
            tokens_used=result.tokens_used,
        )
