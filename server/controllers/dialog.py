"""Dialog endpoint (§8.5): one text or audio turn through the persona's LLM engine and voice."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.status_codes import HTTP_200_OK

from server.auth import require_device_access
from server.controllers.common import AnyRequest, principal_of, public_base_url, services_of
from server.controllers.openapi import DIALOG_FAILURES, declare, exactly_one_of
from server.errors import ValidationFailed
from server.request_ids import received_at
from server.schemas.dialog import DialogSendRequest, DialogSendResponse


class DialogController(Controller):
    path = "/dialog"
    tags = ["dialog"]

    @post("/send", summary="Send a message", status_code=HTTP_200_OK, **declare(*DIALOG_FAILURES, body=True))
    async def send(
        self,
        request: AnyRequest,
        data: Annotated[DialogSendRequest, exactly_one_of("message", "audio_base64")],
    ) -> DialogSendResponse:
        """Runs a real turn. `LLM_API_ERROR` (502) when the persona's engine fails.

        `message` (text) or `audio_base64` (a base64 WAV, 16-bit PCM at a supported
        rate, transcribed first). On a server with its voice models the reply is also
        spoken in the persona's voice, for either: `response_audio_url` is a pre-signed,
        expiring URL of the WAV (null on a text-only server). A failure of the speech
        recognizer or the voice is 503 `VOICE_UNAVAILABLE`; `latency_ms` runs from the
        request's arrival until the reply, with its audio, is ready.
        """
        require_device_access(principal_of(request), data.device_id)
        services = services_of(request)
        started = received_at(request.scope)
        if data.audio_base64 is None and not (data.message or "").strip():
            raise ValidationFailed(
                "Invalid request at message: must not be empty",
                details={"errors": [{"field": "message", "reason": "must not be empty"}]},
            )
        await services.devices.get(data.device_id)
        result = await services.dialog.send(
            device_id=data.device_id,
            message=data.message,
            audio_base64=data.audio_base64,
            session_id=data.session_id,
            started=started,
        )
        audio_url = None if result.audio_path is None else public_base_url(request) + result.audio_path
        return DialogSendResponse(
            session_id=result.session.session_id,
            response_text=result.text,
            response_audio_url=audio_url,
            persona_id=result.persona_id,
            latency_ms=round(result.latency_ms),
            tokens_used=result.tokens_used,
        )
