"""§8.2: every endpoint but health and docs needs a valid token of the right role."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import TEST_SECRET, LiveServer


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "companion-voice",
        "sub": "ops",
        "role": "operator",
        "jti": "tok_x",
        "iat": now,
        "exp": now + 60,
        **overrides,
    }


def _bad_tokens() -> dict[str, tuple[str, str]]:
    """Each refused token, with the reason the server must give."""
    return {
        "expired": (jwt.encode(_claims(iat=1, exp=2), TEST_SECRET, algorithm="HS256"), "expired"),
        "wrong key": (
            jwt.encode(_claims(), "another-secret-" + "y" * 40, algorithm="HS256"),
            "bad_signature",
        ),
        "alg none": (f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims())}.", "bad_algorithm"),
        "other alg": (jwt.encode(_claims(), TEST_SECRET, algorithm="HS512"), "bad_algorithm"),
        "garbage": ("not.a.token", "malformed"),
        "no role": (
            jwt.encode({k: v for k, v in _claims().items() if k != "role"}, TEST_SECRET),
            "malformed",
        ),
        "unknown role": (jwt.encode(_claims(role="admin"), TEST_SECRET), "malformed"),
        "wrong issuer": (jwt.encode(_claims(iss="someone-else"), TEST_SECRET), "malformed"),
        "no expiry": (
            jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, TEST_SECRET),
            "malformed",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_tokens()))
async def test_refused_tokens_get_401_with_reason(server: LiveServer, case: str) -> None:
    token, reason = _bad_tokens()[case]
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        response = await http.get("/personas", headers={"Authorization": f"Bearer {token}"})
    body = assert_error(response, 401, "UNAUTHORIZED")
    assert body["details"] == {"reason": reason}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Token abc"])
async def test_missing_or_malformed_header_gets_401(server: LiveServer, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        response = await http.get("/devices", headers=headers)
    assert_error(response, 401, "UNAUTHORIZED")


async def test_every_spec_endpoint_needs_a_token(server: LiveServer) -> None:
    calls = [
        ("POST", "/devices"),
        ("GET", "/devices/dev_x/state"),
        ("GET", "/personas"),
        ("GET", "/personas/companion"),
        ("POST", "/devices/dev_x/persona/switch"),
        ("POST", "/dialog/send"),
        ("POST", "/sessions"),
        ("POST", "/sessions/sess_x/handoff"),
        ("POST", "/coordination/group-activity"),
        ("POST", "/coordination/broadcast"),
    ]
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        for method, path in calls:
            assert_error(await http.request(method, path, json={}), 401, "UNAUTHORIZED")


async def test_health_and_docs_need_no_token(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        health = await http.get("/v1/health")
        schema = await http.get("/schema/openapi.json")
        docs = await http.get("/schema/swagger")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert schema.status_code == 200
    assert "/v1/devices/{device_id}/state" in schema.json()["paths"]
    assert docs.status_code == 200


async def test_device_token_reaches_only_its_own_device(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    mine, token = await register(client)
    other, _ = await register(client)
    device = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.api_url, headers=device) as http:
        assert (await http.get(f"/devices/{mine}/state")).status_code == 200
        assert (await http.get("/personas")).status_code == 200
        body = assert_error(await http.get(f"/devices/{other}/state"), 403, "FORBIDDEN")
        assert body["details"] == {"token_device_id": mine, "requested_device_id": other}
        for method, path, payload in [
            ("POST", "/devices", {"name": "x", "device_type": "tablet"}),
            ("GET", "/devices", None),
            ("DELETE", f"/devices/{mine}", None),
            (
                "POST",
                "/coordination/broadcast",
                {"event_type": "x", "target_devices": ["all"], "group_id": "g", "payload": {}},
            ),
            ("POST", f"/devices/{other}/persona/switch", {"target_persona_id": "companion"}),
        ]:
            assert_error(await http.request(method, path, json=payload), 403, "FORBIDDEN")


async def test_rotated_and_deregistered_tokens_are_revoked(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, old = await register(client)
    rotated = await client.post(f"/devices/{device_id}/token")
    assert rotated.status_code == 200
    new = rotated.json()["auth_token"]
    async with httpx.AsyncClient(base_url=server.api_url) as http:
        body = assert_error(
            await http.get(f"/devices/{device_id}/state", headers={"Authorization": f"Bearer {old}"}),
            401,
            "UNAUTHORIZED",
        )
        assert body["details"] == {"reason": "revoked"}
        ok = await http.get(f"/devices/{device_id}/state", headers={"Authorization": f"Bearer {new}"})
        assert ok.status_code == 200
        assert (await client.delete(f"/devices/{device_id}")).status_code == 204
        gone = await http.get(f"/devices/{device_id}/state", headers={"Authorization": f"Bearer {new}"})
        assert_error(gone, 401, "UNAUTHORIZED")


async def test_device_token_rate_limit_holds_with_retry_after(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory(device_requests_per_minute=3) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as ops:
            device_id, token = await register(ops)
            async with httpx.AsyncClient(
                base_url=live.api_url, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                for _ in range(3):
                    assert (await http.get(f"/devices/{device_id}/state")).status_code == 200
                limited = await http.get(f"/devices/{device_id}/state")
            body = assert_error(limited, 429, "RATE_LIMITED")
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert body["details"]["retry_after_s"] == int(limited.headers["retry-after"])  # type: ignore[index]
            # Operators are not limited by default.
            for _ in range(5):
                assert (await ops.get(f"/devices/{device_id}/state")).status_code == 200


def test_cli_issues_operator_tokens_the_server_accepts(server: LiveServer, tmp_path: Path) -> None:
    env = {**os.environ, "COMPANION_JWT_SECRET": TEST_SECRET, "COMPANION_STATE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "token", "--ttl", "60"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = out.stdout.strip()
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"], issuer="companion-voice")
    assert claims["role"] == "operator"
    assert claims["exp"] - claims["iat"] == 60
    response = httpx.get(f"{server.api_url}/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_cli_and_server_share_a_generated_secret(tmp_path: Path) -> None:
    """With no secret configured, one is generated once (mode 0600) and reused by later runs."""
    env = {k: v for k, v in os.environ.items() if k != "COMPANION_JWT_SECRET"} | {
        "COMPANION_STATE_DIR": str(tmp_path)
    }
    first = subprocess.run(
        [sys.executable, "-m", "server.cli", "token"], env=env, capture_output=True, text=True, check=True
    )
    second = subprocess.run(
        [sys.executable, "-m", "server.cli", "token"], env=env, capture_output=True, text=True, check=True
    )
    secret = (tmp_path / "jwt_secret").read_text()
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
    for out in (first, second):
        jwt.decode(out.stdout.strip(), secret, algorithms=["HS256"], issuer="companion-voice")
