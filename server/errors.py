"""One exception hierarchy for the API, mapped to the spec's error body (§8.9) in one place."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error a client can act on: an HTTP status, a stable code, a message and details."""

    status_code = 500
    error_code = "INTERNAL_ERROR"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


class InvalidJson(ApiError):
    status_code = 400
    error_code = "INVALID_JSON"


class ValidationFailed(ApiError):
    status_code = 422
    error_code = "VALIDATION_ERROR"


class Unauthorized(ApiError):
    status_code = 401
    error_code = "UNAUTHORIZED"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, details={"reason": reason}, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status_code = 403
    error_code = "FORBIDDEN"


class NotFound(ApiError):
    status_code = 404
    error_code = "NOT_FOUND"


class DeviceNotFound(ApiError):
    status_code = 404
    error_code = "DEVICE_NOT_FOUND"

    def __init__(self, device_id: str) -> None:
        super().__init__(f"Device '{device_id}' is not registered", details={"device_id": device_id})


class PersonaNotFound(ApiError):
    status_code = 404
    error_code = "PERSONA_NOT_FOUND"

    def __init__(self, persona_id: str) -> None:
        super().__init__(f"Persona '{persona_id}' does not exist", details={"requested_id": persona_id})


class SessionNotFound(ApiError):
    status_code = 404
    error_code = "SESSION_NOT_FOUND"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session '{session_id}' does not exist", details={"session_id": session_id})


class CommandNotFound(ApiError):
    status_code = 404
    error_code = "COMMAND_NOT_FOUND"

    def __init__(self, command_id: str) -> None:
        super().__init__(f"Command '{command_id}' is unknown or too old", details={"command_id": command_id})


class MethodNotAllowed(ApiError):
    status_code = 405
    error_code = "METHOD_NOT_ALLOWED"


class Conflict(ApiError):
    status_code = 409
    error_code = "CONFLICT"


class SessionExpired(ApiError):
    status_code = 410
    error_code = "SESSION_EXPIRED"

    def __init__(self, session_id: str, *, reason: str) -> None:
        super().__init__(
            f"Session '{session_id}' has {reason}; start a new one",
            details={"session_id": session_id, "reason": reason},
        )


class PayloadTooLarge(ApiError):
    status_code = 413
    error_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ApiError):
    status_code = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class RateLimited(ApiError):
    status_code = 429
    error_code = "RATE_LIMITED"

    def __init__(self, *, scope: str, limit: int, retry_after_s: int) -> None:
        super().__init__(
            f"Too many requests: the limit is {limit} per minute ({scope})",
            details={"scope": scope, "limit_per_minute": limit, "retry_after_s": retry_after_s},
            headers={"Retry-After": str(retry_after_s)},
        )


class MessagesDropped(ApiError):
    """A device sends on its data channel faster than its session reads: what does not fit is dropped."""

    status_code = 429
    error_code = "RATE_LIMITED"

    def __init__(self, *, max_messages: int, max_bytes: int) -> None:
        super().__init__(
            "Messages are arriving faster than they are read: those beyond the backlog are dropped "
            "until it drains",
            details={"scope": "data_channel", "max_messages": max_messages, "max_bytes": max_bytes},
        )


class NotSupported(ApiError):
    """Well-formed input this server version cannot process yet (a client error, not a server fault)."""

    status_code = 422
    error_code = "NOT_SUPPORTED"


class LLMApiError(ApiError):
    status_code = 502
    error_code = "LLM_API_ERROR"


class DeviceOffline(ApiError):
    status_code = 503
    error_code = "DEVICE_OFFLINE"

    def __init__(self, device_id: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"Device '{device_id}' is not connected",
            details={"device_id": device_id, **(details or {})},
        )


class ServiceUnavailable(ApiError):
    status_code = 503
    error_code = "SERVICE_UNAVAILABLE"


STORE_RETRY_AFTER_S = 5
"""What `Retry-After` says while the store is unreachable: Redis restarting takes seconds."""


class StoreUnavailable(ApiError):
    """The shared store (Redis) does not answer: nothing was done; retry after `Retry-After` seconds."""

    status_code = 503
    error_code = "STORE_UNAVAILABLE"

    def __init__(self) -> None:
        super().__init__(
            "The server's store is unreachable; nothing was done, retry later",
            details={"retry_after_s": STORE_RETRY_AFTER_S},
            headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
        )


class ProfileNotFound(ApiError):
    status_code = 404
    error_code = "PROFILE_NOT_FOUND"

    def __init__(self) -> None:
        # The user id is not echoed: it may be a resident's name.
        super().__init__("No profile is kept for this resident")
