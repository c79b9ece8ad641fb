"""Dialog endpoint (§8.5): one text turn through the persona's LLM engine."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from server.auth import require_device_access
from server.controllers.common import AnyRequest, principal_of, services_of
from server.errors import NotSupported, ValidationFailed
from server.request_ids import received_at
from server.schemas.dialog import DialogSendRequest, DialogSendResponse


class DialogController(Controller):
    path = "/dialog"
    tags = ["dialog"]

    @post("/send", summary="Send a message", status_code=HTTP_200_OK)
    async def send(self, request: AnyRequest, data: JSONBody[DialogSendRequest]) -> DialogSendResponse:
        """Runs a real turn. `LLM_API_ERROR` (502) when the persona's engine fails."""
        require_device_access(principal_of(request), data.device_id)
        if data.audio_base64 is not None:
            raise NotSupported("Audio dialog is not available in this server version; send text in `message`")
        if not data.message.strip():
            raise ValidationFailed(
                "Invalid request at message: must not be empty",
                details={"errors": [{"field": "message", "reason": "must not be empty"}]},
            )
        services = services_of(request)
        await services.devices.get(data.device_id)
        result = await services.dialog.run_turn(
            device_id=data.device_id,
            text=data.message,
            session_id=data.session_id,
            started=received_at(request.scope),
        )
        return DialogSendResponse(
            session_id=result.session.session_id,
            response_text=result.text,
            response_audio_url=None,
            persona_id=result.persona_id,
            latency_ms=round(result.latency_ms),
            tokens_used=result.tokens_used,
        )
