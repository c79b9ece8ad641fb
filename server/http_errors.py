"""Every error leaves the app here, in the spec's body: error_code, message, details, request_id."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import ExceptionHandlersMap

from server.errors import (
    ApiError,
    Forbidden,
    InvalidJson,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    ValidationFailed,
)
from server.request_ids import request_id_for
from server.schemas.common import ErrorResponse
from server.state.errors import StoreUnreachable

log = logging.getLogger(__name__)

_MALFORMED = ("JSON is malformed", "Input data was truncated", "invalid utf-8", "Unexpected end of input")
_NAMED = re.compile(r"`([A-Za-z_][A-Za-z0-9_.]*)`")
_AT_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)


def error_response(request: Request[Any, Any, Any], error: ApiError) -> Response[ErrorResponse]:
    body = ErrorResponse(
        error_code=error.error_code,
        message=error.message,
        details=error.details,
        request_id=request_id_for(request.scope),
    )
    return Response(body, status_code=error.status_code, headers=error.headers)


def _from_litestar(exc: HTTPException) -> ApiError:
    """Translate Litestar's own exceptions (routing, body parsing, limits) into ours."""
    if isinstance(exc, ValidationException):
        return _validation_error(exc)
    if exc.status_code == HTTP_400_BAD_REQUEST and any(marker in (exc.detail or "") for marker in _MALFORMED):
        return InvalidJson("Request body is not valid JSON", details={"reason": _reason(exc.detail)})
    if isinstance(exc, NotFoundException):
        return NotFound("No such resource", details={})
    if isinstance(exc, MethodNotAllowedException):
        # Litestar's router names the path's methods in `Allow` (RFC 9110); keep it.
        allowed = {k.title(): v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
        return MethodNotAllowed(exc.detail or "Method not allowed", details={}, headers=allowed)
    if isinstance(exc, NotAuthorizedException):
        return Unauthorized(exc.detail or "Not authenticated", reason="missing")
    if isinstance(exc, PermissionDeniedException):
        return Forbidden(exc.detail or "Forbidden")
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return PayloadTooLarge("Request body is too large", details={})
    if exc.status_code < 500:
        error = ApiError(exc.detail or "Bad request")
        error.status_code = exc.status_code
        error.error_code = "BAD_REQUEST"
        return error
    error = ApiError("Internal server error")
    return error


def _validation_error(exc: ValidationException) -> ApiError:
    text = str(exc.detail or "")
    extra = exc.extra
    if any(marker in text for marker in _MALFORMED):
        return InvalidJson("Request body is not valid JSON", details={"reason": _reason(text)})
    problems: list[dict[str, Any]] = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict):
                message = str(item.get("message", ""))
                if any(marker in message for marker in _MALFORMED):
                    return InvalidJson("Request body is not valid JSON", details={"reason": _reason(message)})
                problems.append(_problem(item))
    if not problems:
        reason, path = _split(text)
        problems.append({"field": path, "reason": reason})
    return _failed(problems)


def validation_failed(message: str) -> ValidationFailed:
    """422 for a body that does not fit its type: one problem per field a msgspec error names.

    The field is the error's path (`… - at `$.name``); without one, the fields the
    reason names in backticks (a missing field, or a rule across fields such as
    "exactly one of `message` and `audio_base64`"), else the body as a whole.
    """
    reason, path = _split(message)
    fields = [path] if path else _named_fields(reason)
    return _failed([{"field": field, "reason": reason} for field in fields])


def _named_fields(reason: str) -> list[str]:
    if reason.startswith("Expected"):  # `Expected `object`, got `array``: type names, not fields
        return ["body"]
    return _NAMED.findall(reason) or ["body"]


def _failed(problems: list[dict[str, Any]]) -> ValidationFailed:
    first = problems[0]
    where = f" at {first['field']}" if first.get("field") else ""
    return ValidationFailed(f"Invalid request{where}: {first['reason']}", details={"errors": problems})


def _problem(item: dict[str, Any]) -> dict[str, Any]:
    reason, path = _split(str(item.get("message", "")))
    key = str(item.get("key") or "")
    source = item.get("source")
    source = str(getattr(source, "value", source) or "body")
    if path:
        field = path
    elif key and key != "data":
        field = key if source == "body" else f"{source}.{key}"
    else:
        field = "body"
    return {"field": field, "reason": reason}


def _split(message: str) -> tuple[str, str]:
    match = _AT_PATH.match(message.strip())
    if match is None:
        return message, ""
    path = match.group("path") or ""
    return match.group("reason").strip(), path.removeprefix("$.").removeprefix("$")


def _reason(message: str) -> str:
    return _split(message)[0]


def handle_api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[ErrorResponse]:
    return error_response(request, exc)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorResponse]:
    if isinstance(exc, ValidationException) and _has_empty_body(request):
        # Litestar reports a missing body as a bare KeyError message; say what is wrong instead.
        return error_response(
            request,
            InvalidJson("Request body is empty; expected a JSON object", details={"reason": "empty body"}),
        )
    return error_response(request, _from_litestar(exc))


def _has_empty_body(request: Request[Any, Any, Any]) -> bool:
    return request.method in ("POST", "PUT", "PATCH") and request.headers.get("content-length", "0") == "0"


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorResponse]:
    if isinstance(exc, msgspec.ValidationError):
        return error_response(request, validation_failed(str(exc)))
    log.exception(
        "unhandled error on %s %s (request %s)",
        request.method,
        request.url.path,
        request_id_for(request.scope),
    )
    return error_response(request, ApiError("Internal server error"))


def handle_store_unreachable(
    request: Request[Any, Any, Any], exc: StoreUnreachable
) -> Response[ErrorResponse]:
    """Redis does not answer: 503 `STORE_UNAVAILABLE` with `Retry-After`, whichever call met it (the token's
    revocation check and the rate limit included: neither is skipped while the store is away)."""
    log.warning("store unreachable on %s %s: %s", request.method, request.url.path, exc)
    return error_response(request, StoreUnavailable())


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: handle_api_error,
    StoreUnreachable: handle_store_unreachable,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
