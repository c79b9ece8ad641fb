"""Request bodies as the document describes them: JSON, decoded strictly, before the handler runs.

Litestar converts bodies leniently (`"5"` for an integer, `1` for a boolean), the
way it must for query strings. A body is JSON, so its types are taken as sent:
this `before_request` hook decodes it with `strict=True` into the handler's body
type and refuses what does not fit, in the spec's error body. Unknown fields
are ignored, as in the spec's (pydantic) models. A number with a zero fraction
(`5.0`) is an integer, as JSON Schema counts it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler

from server.controllers.common import AnyRequest
from server.errors import InvalidJson, UnsupportedMediaType
from server.http_errors import validation_failed
from server.nesting import MAX_DEPTH, TooDeep, check_depth

JSON_MEDIA_TYPE = "application/json"

_body_types: dict[HTTPRouteHandler, Any] = {}
_NO_BODY = object()


async def check_json_body(request: AnyRequest) -> None:
    """Refuse a body that is not labelled JSON (415), not JSON (400) or not of the handler's type (422)."""
    body_type = _body_type_of(request.route_handler)
    if body_type is _NO_BODY:
        return
    _require_json_label(request.headers.get("content-type"))
    raw = await request.body()
    if not raw.strip():
        raise InvalidJson("Request body is empty; expected a JSON object", details={"reason": "empty body"})
    document = decode_json(raw, what="Request body")
    try:
        msgspec.convert(document, body_type, strict=True)
    except msgspec.ValidationError as exc:
        raise validation_failed(str(exc)) from None


def decode_json(raw: bytes, *, what: str) -> Any:
    """`raw` as JSON values; `InvalidJson` (400) if it is not JSON or nests deeper than `MAX_DEPTH`."""
    try:
        document = _JSON.decode(raw)
        check_depth(document)
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"{what} is not valid JSON", details={"reason": str(exc)}) from None
    except (TooDeep, RecursionError):  # msgspec recurses too: past ~1,000 levels it raises RecursionError
        raise InvalidJson(
            f"{what} nests arrays and objects more than {MAX_DEPTH} deep",
            details={"reason": "nested too deeply", "max_depth": MAX_DEPTH},
        ) from None
    return document


def _require_json_label(content_type: str | None) -> None:
    """No label is read as JSON; any other label than JSON is refused."""
    if content_type is None:
        return
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        f"Request body must be JSON, sent as 'Content-Type: {JSON_MEDIA_TYPE}' "
        f"(with curl: -H 'Content-Type: {JSON_MEDIA_TYPE}', or --json)",
        details={"content_type": content_type, "expected": JSON_MEDIA_TYPE},
    )


def _body_type_of(handler: HTTPRouteHandler) -> Any:
    """The type of the handler's `data` (its body), looked up once per handler; `_NO_BODY` if none."""
    if handler not in _body_types:
        data = handler.parsed_fn_signature.parameters.get("data")
        _body_types[handler] = _NO_BODY if data is None else data.annotation
    return _body_types[handler]


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


_JSON = msgspec.json.Decoder(float_hook=_number)
"""JSON to Python values; `5.0` decodes as `5`, so that it fits an integer field (and nothing else changes:
what the handler gets is decoded by Litestar)."""
