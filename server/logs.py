"""The process's logging: one handler, every library at `COMPANION_LOG_LEVEL`, no secret in any line.

Everything goes through one stderr handler on the root logger: our own loggers, uvicorn's (its
error, access and WebSocket lines, which print a socket's path with its query), Litestar's,
httpx's, and pipecat's, which logs through loguru and is routed here. The handler's formatter
redacts credentials from the whole formatted line, tracebacks included: a device token in
`?token=`, an audio URL's `sig=`, a `Bearer` header value, and anything shaped like a JWT.
onnxruntime and CTranslate2 log from C++ straight to stderr; they get the nearest severity.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

REDACTED = "[redacted]"
_CREDENTIALS = (
    # A query or form parameter that carries a credential: ?token=…, &sig=…, access_token=…
    (re.compile(r"(?i)\b((?:auth_|access_|refresh_)?token|sig|signature)=[^&\s\"'<>]+"), rf"\1={REDACTED}"),
    (re.compile(r"(?i)\b(bearer)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    # A JWT anywhere: its header is base64url of '{"', so it starts "eyJ".
    (re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*"), REDACTED),
)
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_LIBRARY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "litestar",
    "httpx",
    "httpcore",
)


def redact(text: str) -> str:
    """`text` without the credentials it may carry."""
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then redacts credentials from the whole line (message, exception, stack)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str) -> None:
    """Route every logger of the process to one redacting stderr handler at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.setLevel(level)
        library.propagate = True
    _route_loguru(level)
    _native_levels(level)


def _route_loguru(level: str) -> None:
    """pipecat logs through loguru, whose own sink prints everything from DEBUG: send it here instead."""
    from loguru import logger

    logger.remove()
    logger.add(_to_logging, level=level, format="{message}")


def _to_logging(message: Any) -> None:
    record = message.record
    exception = record["exception"]
    exc_info = (exception.type, exception.value, exception.traceback) if exception else None
    logging.getLogger(record["name"] or "loguru").log(
        record["level"].no, record["message"], exc_info=exc_info
    )


def _native_levels(level: str) -> None:
    """onnxruntime and CTranslate2 log from C++: the nearest severity. onnxruntime's INFO is graph-
    optimisation detail, so it speaks from WARNING unless the server runs at DEBUG."""
    severity = {"DEBUG": 1, "INFO": 2, "WARNING": 2, "ERROR": 3}[level]
    try:
        import onnxruntime

        onnxruntime.set_default_logger_severity(severity)
    except ImportError:  # the voice extras are not installed
        pass
    try:
        import ctranslate2

        ctranslate2.set_log_level(logging.getLevelName(level))
    except ImportError:
        pass
