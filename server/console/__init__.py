"""The browser console at `/console`: static HTML, CSS and plain JS, no build step.

The page signs in with a token kept in the page's memory, talks to a device's voice loop over
WebRTC (`POST /v1/devices/{id}/webrtc/offer`) and uses the REST API for the rest. The files are
public (no token: the page itself asks for one); every answer carries a content security policy
that lets the page load and connect to this server only, so it works offline and a token typed
into it cannot be sent anywhere else by anything the page loads.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "img-src 'self'",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page asks for the microphone; nothing else on the origin may be framed or use it.
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


async def _secure(response: Response[object]) -> Response[object]:
    response.headers.update(SECURITY_HEADERS)
    return response


def console_router() -> Router:
    """`/console` (and `/console/`: the page), and its files under it, without a token."""
    return create_static_files_router(
        path=CONSOLE_PATH,
        directories=[STATIC_DIR],
        html_mode=True,
        name="console",
        opt={"exclude_from_auth": True},
        after_request=_secure,
        # A new release's page and scripts are fetched again, never mixed with an old copy.
        cache_control=CacheControlHeader(no_cache=True),
        include_in_schema=False,
    )
