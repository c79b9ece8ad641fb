"""The operator's media library: plain files in one folder (`COMPANION_MEDIA_DIR`), nothing fetched.

A media item is named by its file name alone: a name that is not a plain file name of the folder
(a path, `..`, a hidden file, a link leading out of it) is not in the library. Devices fetch an item
by a pre-signed, expiring URL, signed like reply audio's but with a key of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import re
import time
from pathlib import Path
from urllib.parse import quote

import msgspec

from server.audio_urls import AudioUrlSigner
from server.errors import ApiError
from server.paths import API_PREFIX

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()-]{0,199}", re.ASCII)
"""A media item's name: a file name of the folder, no separators, no leading dot."""


class MediaNotFound(ApiError):
    status_code = 404
    error_code = "MEDIA_NOT_FOUND"

    def __init__(self, name: str | None) -> None:
        if name is None:
            super().__init__("Name a file of the media library in config.media", details={"media": None})
        else:
            super().__init__(f"'{name}' is not in the media library", details={"media": name})


class MediaItem(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    size_bytes: int
    content_type: str


class MediaListResponse(msgspec.Struct, frozen=True, kw_only=True):
    media: list[MediaItem]
    media_dir_configured: bool


class MediaLibrary:
    def __init__(self, folder: Path | None) -> None:
        self._folder = folder.resolve() if folder is not None else None

    def items(self) -> list[MediaItem]:
        """Every playable file of the folder, by name; none without a folder."""
        if self._folder is None or not self._folder.is_dir():
            return []
        found = (self._item(p.name) for p in sorted(self._folder.iterdir()))
        return [i for i in found if i is not None]

    def path(self, name: str) -> Path:
        """The file of `name`; `MediaNotFound` for anything that is not a file of the folder."""
        item = self._item(name)
        if item is None or self._folder is None:
            raise MediaNotFound(name)
        return self._folder / name

    def item(self, name: str) -> MediaItem:
        item = self._item(name)
        if item is None:
            raise MediaNotFound(name)
        return item

    def _item(self, name: str) -> MediaItem | None:
        if self._folder is None or not NAME.fullmatch(name):
            return None
        path = self._folder / name
        # resolve(): a link that leads out of the folder is not the folder's file
        if not path.is_file() or path.resolve().parent != self._folder:
            return None
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return MediaItem(name=name, size_bytes=path.stat().st_size, content_type=kind)


class MediaUrlSigner(AudioUrlSigner):
    """Reply audio's signing scheme, with a key of its own and the media's path."""

    def __init__(self, *, secret: str, ttl_s: int) -> None:
        super().__init__(secret=secret, ttl_s=ttl_s)
        self._key = hmac.new(secret.encode(), b"companion-voice media url", hashlib.sha256).digest()

    def path(self, blob_id: str) -> str:
        expires = int(time.time()) + self._ttl_s
        signature = self._signature(blob_id, expires)
        return f"{API_PREFIX}/media/{quote(blob_id)}/content?expires={expires}&sig={signature}"
