"""What each operation declares in the OpenAPI document: its errors (in the spec's body) and its security.

Every handler passes `**declare(...)` to its route decorator, naming the failures it
can answer with; the document then lists each status once, with the spec's
`ErrorResponse` body and which error codes come under it, and when. A client
generated from the document knows every status it can get.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from litestar.enums import RequestEncodingType
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.params import Body, BodyKwarg
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from server.schemas.common import ErrorResponse, RequestBody

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

BEARER_SCHEME = "BearerToken"


class Failure(NamedTuple):
    """One way an operation can fail: the status, the `error_code`, and when it happens."""

    status: int
    code: str
    when: str


UNAUTHORIZED = Failure(401, "UNAUTHORIZED", "no token, or a refused one (`details.reason` says why)")
RATE_LIMITED = Failure(
    429, "RATE_LIMITED", "too many requests for the token; `Retry-After` says when to retry"
)
NOT_OPERATOR = Failure(403, "FORBIDDEN", "the token is not an operator's")
OTHER_DEVICE = Failure(403, "FORBIDDEN", "a device token used for another device")
DEVICE_NOT_FOUND = Failure(404, "DEVICE_NOT_FOUND", "the device is not registered")
PERSONA_NOT_FOUND = Failure(404, "PERSONA_NOT_FOUND", "the persona is not in the library")
SESSION_NOT_FOUND = Failure(404, "SESSION_NOT_FOUND", "no such session")
COMMAND_NOT_FOUND = Failure(404, "COMMAND_NOT_FOUND", "the command is unknown, too old, or another device's")
SESSION_EXPIRED = Failure(410, "SESSION_EXPIRED", "the session ended or timed out (`details.reason`)")
DEVICE_OFFLINE = Failure(503, "DEVICE_OFFLINE", "the device has no live socket")
LIVE_UPDATE_FAILED = Failure(
    503,
    "LIVE_UPDATE_FAILED",
    "the store has the change, but the device's running voice loop did not apply it (retry)",
)
STORE_UNAVAILABLE = Failure(
    503,
    "STORE_UNAVAILABLE",
    "the server's store (Redis) is unreachable: nothing was done; `Retry-After` says when to retry",
)
BAD_QUERY = Failure(422, "VALIDATION_ERROR", "a query parameter is not one of its allowed values")

INVALID_JSON = Failure(400, "INVALID_JSON", "the body is not JSON, or is empty")
BAD_REQUEST = Failure(400, "BAD_REQUEST", "the request itself is malformed (e.g. its `Content-Length`)")
PAYLOAD_TOO_LARGE = Failure(413, "PAYLOAD_TOO_LARGE", "the body is over `COMPANION_MAX_BODY_BYTES`")
UNSUPPORTED_MEDIA_TYPE = Failure(
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    "the body is labelled other than `application/json` (e.g. curl -d's form type)",
)
INVALID_BODY = Failure(
    422,
    "VALIDATION_ERROR",
    "a field is missing, of the wrong type or out of range; `details.errors` names each",
)
JSON_BODY = (INVALID_JSON, BAD_REQUEST, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, INVALID_BODY)
"""What any operation that reads a JSON body can answer before it looks at the content."""

_RESPONSE_HEADERS = {
    401: ("WWW-Authenticate", OpenAPIType.STRING, "`Bearer`", True),
    429: ("Retry-After", OpenAPIType.INTEGER, "Seconds until the limit's window ends.", True),
    503: (
        "Retry-After",
        OpenAPIType.INTEGER,
        "With `STORE_UNAVAILABLE`: seconds to wait before retrying.",
        False,
    ),
}


def declare(*failures: Failure, token: bool = True, body: bool = False) -> dict[str, Any]:
    """Route-decorator arguments declaring the operation's `failures` (plus auth's and the body's, if any)."""
    # A token is checked against the store's revocations and rate limits: that can meet the store away.
    with_token = (UNAUTHORIZED, RATE_LIMITED, STORE_UNAVAILABLE) if token else ()
    every = (*failures, *with_token, *(JSON_BODY if body else ()))
    by_status: dict[int, list[Failure]] = {}
    for failure in every:
        if failure not in by_status.setdefault(failure.status, []):
            by_status[failure.status].append(failure)
    declared: dict[str, Any] = {
        "responses": {status: _response(listed) for status, listed in sorted(by_status.items())},
        "operation_class": DeclaredOperation,
    }
    if token:
        declared["security"] = [{BEARER_SCHEME: []}]
    return declared


def _response(failures: list[Failure]) -> ResponseSpec:
    lines = [f"`{f.code}`: {f.when}" for f in failures]
    return ResponseSpec(data_container=ErrorResponse, generate_examples=False, description="; ".join(lines))


@dataclass
class DeclaredOperation(Operation):
    """An operation whose errors are all declared: Litestar's own 400 body is dropped unless replaced (no
    request reaches a handler with it), and the headers of 401, 429 and 503 answers are documented."""

    def __post_init__(self) -> None:
        responses: dict[str, Any] = dict(self.responses or {})
        if "400" in responses and _is_litestar_validation_body(responses["400"]):
            del responses["400"]
        for status, (name, kind, description, required) in _RESPONSE_HEADERS.items():
            response = responses.get(str(status))
            if isinstance(response, OpenAPIResponse):
                header = OpenAPIHeader(schema=Schema(type=kind), description=description, required=required)
                response.headers = {**(response.headers or {}), name: header}
        self.responses = responses


def _is_litestar_validation_body(response: Any) -> bool:
    if not isinstance(response, OpenAPIResponse) or not response.content:
        return False
    schema = next(iter(response.content.values())).schema
    return isinstance(schema, Schema) and "status_code" in (schema.properties or {})


DIALOG_FAILURES = (
    OTHER_DEVICE,
    Failure(403, "FORBIDDEN", "`session_id` is a session of another device"),
    DEVICE_NOT_FOUND,
    SESSION_NOT_FOUND,
    SESSION_EXPIRED,
    Failure(422, "VALIDATION_ERROR", "`audio_base64` is not base64 of a usable WAV, or holds no speech"),
    Failure(422, "NOT_SUPPORTED", "audio sent to a server running without its voice models"),
    Failure(429, "RATE_LIMITED", "the device is over its dialog turns per minute"),
    Failure(502, "LLM_API_ERROR", "the persona's LLM failed or timed out"),
    Failure(503, "VOICE_UNAVAILABLE", "the speech recognizer or the persona's voice failed"),
)
"""`POST /dialog/send`: a turn reaches sessions, the LLM and, for audio, the voice models."""


def exactly_one_of(*names: str) -> BodyKwarg:
    """A JSON body's OpenAPI declaration that exactly one of the optional fields `names` is given (not null).

    The rule itself is the body type's (`__post_init__`); this says it in the document, so that a
    request valid by the document is one the server takes.
    """
    alternatives = [
        Schema(
            required=[name],
            properties={
                other: Schema(type=OpenAPIType.STRING if other == name else OpenAPIType.NULL)
                for other in names
            },
        )
        for name in names
    ]
    body: BodyKwarg = Body(media_type=RequestEncodingType.JSON, schema_extra={"one_of": alternatives})
    return body


class RequestBodySchemaPlugin(OpenAPISchemaPlugin):
    """Request bodies documented by msgspec itself, so the document states exactly what decoding enforces.

    Litestar's own schemas of Structs drop constraints msgspec checks (those of list items, the size of
    objects); msgspec's JSON Schema of the same type has them all.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and field_definition.is_subclass_of(RequestBody)

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        body_type = field_definition.annotation
        (_,), components = msgspec.json.schema_components([body_type], ref_template=_REF_TEMPLATE)
        schema = schema_creator.schema_registry.get_schema_for_field_definition(field_definition)
        described = _schema_from_json(components[body_type.__name__], components)
        for field in dataclasses.fields(described):
            if (value := getattr(described, field.name)) is not None:
                setattr(schema, field.name, value)
        return schema


_REF_TEMPLATE = "#/components/schemas/{name}"
_NESTED_ONE = ("items", "not", "additionalProperties")
_NESTED_LIST = ("anyOf", "oneOf", "allOf")


def _schema_from_json(data: dict[str, Any], components: dict[str, Any]) -> Schema:
    """A Litestar `Schema` from a JSON Schema dict as msgspec writes them; a Struct nested in the body
    (msgspec's `$ref` to `components`) is written out in place, so the body's schema stands alone."""
    if "$ref" in data:
        data = components[data["$ref"].rsplit("/", 1)[-1]]
    aliases = Schema.field_aliases()
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key == "properties":
            value = {name: _schema_from_json(item, components) for name, item in value.items()}
        elif key in _NESTED_ONE and isinstance(value, dict):
            value = _schema_from_json(value, components)
        elif key in _NESTED_LIST:
            value = [_schema_from_json(item, components) for item in value]
        elif key == "type":
            value = OpenAPIType(value)
        fields[aliases.get(key, key)] = value
    return Schema(**fields)
