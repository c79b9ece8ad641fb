"""Pre-signed, expiring URLs for reply audio: HMAC-SHA256 over the blob id and the expiry."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from server.errors import ApiError
from server.paths import API_PREFIX

_EXPIRES = re.compile(r"[0-9]{1,12}", re.ASCII)
"""A Unix time in ASCII digits: `str.isdigit` also takes "²" and "٣", and `int` refuses 5,000 digits."""
_SIG = re.compile(r"[0-9a-f]{64}", re.ASCII)
"""A hex SHA-256 HMAC, as `_signature` writes it."""


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
        """`AudioUrlInvalid` (403) for a missing, malformed or wrong signature or expiry, `AudioUrlExpired`
        (410) past expiry. Whatever the query holds, the answer is one of these, never a server fault."""
        if not expires or not sig or not _EXPIRES.fullmatch(expires) or not _SIG.fullmatch(sig):
            raise AudioUrlInvalid("The audio URL is not signed", details={"blob_id": blob_id})
        # Both sides ASCII hex by now; compared as bytes (str comparison refuses non-ASCII text).
        if not hmac.compare_digest(sig.encode(), self._signature(blob_id, int(expires)).encode()):
            raise AudioUrlInvalid("The audio URL's signature does not match", details={"blob_id": blob_id})
        if int(expires) < time.time():
            raise AudioUrlExpired(
                "The audio URL has expired", details={"blob_id": blob_id, "expires": int(expires)}
            )

    def _signature(self, blob_id: str, expires: int) -> str:
        return hmac.new(self._key, f"{blob_id}:{expires}".encode(), hashlib.sha256).hexdigest()
