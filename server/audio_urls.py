"""Pre-signed, expiring URLs for reply audio: HMAC-SHA256 over the blob id and the expiry."""

from __future__ import annotations

import hashlib
import hmac
import time

from server.errors import ApiError
from server.paths import API_PREFIX


class AudioUrlInvalid(ApiError):
    status_code = 403
    error_code = "AUDIO_URL_INVALID"


class AudioUrlExpired(ApiError):
    status_code = 410
    error_code = "AUDIO_URL_EXPIRED"


class AudioUrlSigner:
    def __init__(self, *, secret: str, ttl_s: int) -> None:
        # A key of its own, derived from the server secret: a URL signature is never a token signature.
        self._key = hmac.new(secret.encode(), b"companion-voice audio url", hashlib.sha256).digest()
        self._ttl_s = ttl_s

    def path(self, blob_id: str) -> str:
        """The signed path (with query) of `blob_id`, valid for the configured TTL."""
        expires = int(time.time()) + self._ttl_s
        return f"{API_PREFIX}/audio/{blob_id}?expires={expires}&sig={self._signature(blob_id, expires)}"

    def verify(self, blob_id: str, expires: str | None, sig: str | None) -> None:
        """`AudioUrlInvalid` (403) for a missing or wrong signature, `AudioUrlExpired` (410) past expiry."""
        if not expires or not sig or not expires.isdigit():
            raise AudioUrlInvalid("The audio URL is not signed", details={"blob_id": blob_id})
        if not hmac.compare_digest(sig, self._signature(blob_id, int(expires))):
            raise AudioUrlInvalid("The audio URL's signature does not match", details={"blob_id": blob_id})
        if int(expires) < time.time():
            raise AudioUrlExpired(
                "The audio URL has expired", details={"blob_id": blob_id, "expires": int(expires)}
            )

    def _signature(self, blob_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{blob_id}:{expires}".encode(), hashlib.sha256).hexdigest()
