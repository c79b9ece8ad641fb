"""`GET /media`: the operator's media library; `GET /media/{name}/content`: an item, by pre-signed URL."""

from __future__ import annotations

from litestar import get
from litestar.params import FromPath, FromQuery
from litestar.response import File

from server.audio_urls import AudioUrlExpired, AudioUrlInvalid
from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import NOT_OPERATOR, Failure, declare
from server.media.library import MediaLibrary, MediaListResponse, MediaUrlSigner

MEDIA_NOT_FOUND = Failure(404, "MEDIA_NOT_FOUND", "no file of that name in the media library")


def library_of(request: AnyRequest) -> MediaLibrary:
    return MediaLibrary(services_of(request).settings.media_dir)


def media_urls(request: AnyRequest) -> MediaUrlSigner:
    settings = services_of(request).settings
    return MediaUrlSigner(secret=settings.jwt_secret, ttl_s=settings.media_url_ttl_s)


@get("/media", summary="List the media library", tags=["media"], **declare(NOT_OPERATOR))
async def list_media(request: AnyRequest) -> MediaListResponse:
    """The files of `COMPANION_MEDIA_DIR` that `sync_playback` can play (none when it is not set)."""
    require_operator(principal_of(request))
    settings = services_of(request).settings
    return MediaListResponse(
        media=library_of(request).items(), media_dir_configured=settings.media_dir is not None
    )


@get(
    "/media/{name:str}/content",
    summary="A media item (pre-signed URL)",
    tags=["media"],
    exclude_from_auth=True,
    media_type="application/octet-stream",
    **declare(
        Failure(403, AudioUrlInvalid.error_code, "the URL is not signed, or its signature does not match"),
        MEDIA_NOT_FOUND,
        Failure(410, AudioUrlExpired.error_code, "the URL is past its `expires`"),
        token=False,
    ),
)
async def media_content(
    request: AnyRequest,
    name: FromPath[str],
    expires: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
) -> File:
    """The file, as signed for the devices of a `sync_playback`; a name outside the library is a 404."""
    media_urls(request).verify(name, expires, sig)
    library = library_of(request)
    item = library.item(name)
    return File(path=library.path(name), media_type=item.content_type, filename=name)
