"""Reply audio behind pre-signed URLs: no token, the signature in the URL is the credential."""

from __future__ import annotations

from litestar import Response, get
from litestar.params import FromPath, FromQuery

from server.audio_urls import AudioUrlExpired, AudioUrlInvalid
from server.controllers.common import AnyRequest, services_of
from server.controllers.openapi import STORE_UNAVAILABLE, Failure, declare
from server.errors import ApiError


class AudioNotFound(ApiError):
    status_code = 404
    error_code = "AUDIO_NOT_FOUND"


@get(
    "/audio/{blob_id:str}",
    summary="Reply audio (pre-signed URL)",
    tags=["audio"],
    exclude_from_auth=True,
    media_type="audio/wav",
    **declare(
        Failure(403, AudioUrlInvalid.error_code, "the URL is not signed, or its signature does not match"),
        Failure(404, AudioNotFound.error_code, "the audio is no longer kept"),
        Failure(410, AudioUrlExpired.error_code, "the URL is past its `expires`"),
        STORE_UNAVAILABLE,
        token=False,
    ),
)
async def reply_audio(
    request: AnyRequest,
    blob_id: FromPath[str],
    expires: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
) -> Response[bytes]:
    """A WAV of a reply. A tampered URL gets 403 `AUDIO_URL_INVALID`, an old one 410 `AUDIO_URL_EXPIRED`."""
    services = services_of(request)
    services.audio_urls.verify(blob_id, expires, sig)
    data = await services.store.get_blob(blob_id)
    if data is None:
        raise AudioNotFound("The audio is no longer kept", details={"blob_id": blob_id})
    return Response(data, media_type="audio/wav", headers={"Cache-Control": "private, max-age=300"})
