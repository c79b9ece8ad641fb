"""The OpenAPI document tells the truth: generated requests against the real server, answers checked.

Schemathesis takes the document the app builds (the one `/schema/openapi.json`
serves, checked below) and, for every operation, sends the document's examples, its coverage cases
(boundaries, missing and wrong values, undeclared methods and media types) and
fuzzed requests, valid and invalid, with an operator token. Each answer must
conform: no server error that is not declared, every status, media type,
header and body as documented, every schema-valid request accepted (a 404 for
an id that does not exist is the declared answer) and every schema-invalid one
refused, 405s with `Allow`; and every error in the spec's error body.

The run is deterministic (fixed seed, derandomized) and bounded by
`MAX_EXAMPLES` per operation; rate limits are off in the fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from server.auth import TokenService
from server.controllers.openapi import BEARER_SCHEME
from server.paths import DOCS_PATH
from server.settings import Settings
from tests.support.live_server import TEST_SECRET, LiveServer, live_server, make_settings

ERROR_FIELDS = {"error_code", "message", "details", "request_id"}
MAX_EXAMPLES = 100
"""Per operation and phase: ~2,900 requests over the 23 operations, ~20 s on 2 cores."""
SEED = 20261204
DECLARED_SERVER_ERRORS = ["502", "503"]
"""The 5xx answers the document declares (`LLM_API_ERROR`, `DEVICE_OFFLINE`, …): answers, not faults.
`status_code_conformance` still holds each to the operations that declare it."""

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "unsupported_method",  # a 405 for an undeclared method, with `Allow`
    "allow_header_conformance",  # `OPTIONS` lists exactly the documented methods
)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document as `/schema/openapi.json` serves it, read at collection."""
    from server.app import create_app

    app = create_app(Settings(jwt_secret=TEST_SECRET, state_dir=Path("/nonexistent")))
    document: dict[str, Any] = msgspec.to_builtins(app.openapi_schema.to_schema())
    return document


def _operator_token() -> str:
    """An operator token every test server accepts (they all sign with `TEST_SECRET`)."""
    settings = Settings(jwt_secret=TEST_SECRET)
    tokens = TokenService(secret=TEST_SECRET, algorithm=settings.jwt_algorithm, issuer=settings.jwt_issuer)
    return tokens.issue(role="operator", subject="fuzz", ttl_s=24 * 3600).token


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        # Given as the document's security scheme, so cases without the header are known to be invalid.
        "auth": {"openapi": {BEARER_SCHEME: {"bearer": _operator_token()}}},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in CHECKS},
            "not_a_server_error": {
                "enabled": True,
                "expected-statuses": ["2xx", "3xx", "4xx", *DECLARED_SERVER_ERRORS],
            },
        },
        "suppress-health-check": ["all"],
    }
)
schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    state_dir: Path = tmp_path_factory.mktemp("fuzz")
    with live_server(make_settings(state_dir, dialog_turns_per_minute=0)) as live:
        # A few real devices, so generated ids sometimes hit one (schemathesis also tries these examples).
        for name in ("fuzz-a", "fuzz-b"):
            response = httpx.post(
                f"{live.api_url}/devices",
                json={"name": name, "device_type": "tablet"},
                headers=live.operator_headers,
            )
            assert response.status_code == 201, response.text
        yield live


@schema.parametrize()
def test_every_answer_is_as_documented(case: schemathesis.Case, fuzzed_server: LiveServer) -> None:
    response = case.call_and_validate(base_url=fuzzed_server.base_url, timeout=10)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == ERROR_FIELDS, body
        assert [body["request_id"]] == response.headers["x-request-id"]


def test_the_fuzzed_document_is_the_served_one(fuzzed_server: LiveServer) -> None:
    served = httpx.get(f"{fuzzed_server.base_url}{DOCS_PATH}/openapi.json")
    assert served.status_code == 200
    assert served.json() == _document()
