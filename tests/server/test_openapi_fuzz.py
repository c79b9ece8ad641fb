"""Generated input for every endpoint, from the app's own OpenAPI schema: never a 5xx.

Schemathesis reads `/schema/openapi.json` from the real server on a real socket
and sends generated requests (valid and invalid) to every operation, with an
operator token. Every answer must be below 500; every error must be in the
spec's error body.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from server.settings import Settings
from tests.support.live_server import LiveServer, live_server, make_settings

ERROR_FIELDS = {"error_code", "message", "details", "request_id"}


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    state_dir: Path = tmp_path_factory.mktemp("fuzz")
    with live_server(make_settings(state_dir, dialog_turns_per_minute=0)) as live:
        headers = live.operator_headers
        # A few real devices, so generated ids sometimes hit one (schemathesis also tries these examples).
        for name in ("fuzz-a", "fuzz-b"):
            httpx.post(
                f"{live.api_url}/devices", json={"name": name, "device_type": "tablet"}, headers=headers
            )
        yield live


def _operations() -> dict[str, schemathesis.APIOperation]:
    """Every operation of the app's own schema, read at collection without a server."""
    from server.app import create_app
    from tests.support.live_server import TEST_SECRET

    app = create_app(Settings(jwt_secret=TEST_SECRET, state_dir=Path("/nonexistent")))
    raw = msgspec.to_builtins(app.openapi_schema.to_schema())
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    return {op.label: op for op in operations}


OPERATIONS = _operations()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_input_gives_a_server_error(label: str, fuzzed_server: LiveServer) -> None:
    operation = OPERATIONS[label]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        response = case.call(
            base_url=fuzzed_server.base_url, headers=fuzzed_server.operator_headers, timeout=10
        )
        assert response.status_code < 500, f"{label}: {response.status_code} {response.text}"
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == ERROR_FIELDS, body
            assert [body["request_id"]] == response.headers["x-request-id"]

    check()
