"""Alerts from what residents say, on a real server: raised from typed turns (REST dialog and a device
socket's text_input), on the event stream, by a signed webhook to a local receiver (retried after
its 500s), listed and acknowledged over REST; per-group rules; the spoken reply for a critical rule."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.alerts.rules import AlertRules, RulesError
from server.app import create_app
from server.auth import TokenService
from server.events.controller import TRANSCRIPTS_SCOPE
from server.settings import Settings
from tests.server.helpers import assert_error
from tests.support.device_client import DeviceClient
from tests.support.live_server import TEST_SECRET, LiveServer, live_server, make_settings
from tests.support.redis_server import running_redis_server
from tests.support.sse import open_stream
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

SECRET = "webhook-secret-" + "s" * 24
FALL = "I fell in the kitchen and I can't get up."
HELP_LINE = AlertRules.load(None).default.help_line


def token(live: LiveServer, *scopes: str, subject: str = "nurse-station") -> str:
    tokens = TokenService(secret=live.settings.jwt_secret, algorithm="HS256", issuer=live.settings.jwt_issuer)
    return tokens.issue(role="operator", subject=subject, ttl_s=3600, scopes=scopes).token


def http(live: LiveServer, *scopes: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token(live, *scopes)}"}
    return httpx.AsyncClient(base_url=live.api_url, headers=headers, timeout=30)


async def register(live: LiveServer, group_id: str | None = "wing-a") -> tuple[str, str]:
    async with http(live) as client:
        body: dict[str, Any] = {"name": "room 4", "device_type": "tablet"}
        if group_id is not None:
            body["group_id"] = group_id
        response = await client.post("/devices", json=body)
        assert response.status_code == 201, response.text
        return response.json()["device_id"], response.json()["auth_token"]


async def say(live: LiveServer, device_id: str, text: str) -> dict[str, Any]:
    async with http(live) as client:
        response = await client.post("/dialog/send", json={"device_id": device_id, "message": text})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> dict[str, Any]:
    return {"redis_url": redis_url, "redis_key_prefix": "alerts-test:"} if request.param == "redis" else {}


async def test_a_fall_typed_over_rest_raises_an_alert_everywhere(
    tmp_path: Path, backend: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with (
        webhook_receiver(SECRET) as receiver,
        live_server(
            make_settings(tmp_path, alert_webhook_urls=receiver.url, alert_webhook_secret=SECRET, **backend)
        ) as live,
    ):
        device, _ = await register(live)
        async with (
            open_stream(live.api_url, token(live, TRANSCRIPTS_SCOPE)) as staff,
            open_stream(live.api_url, token(live), params={"kinds": "alert,alert_ack"}) as plain,
        ):
            reply = await say(live, device, FALL)
            # The resident is told help has been called, then the persona answers as usual.
            assert reply["response_text"].startswith(HELP_LINE + " ")

            raised = await staff.next_of("alert")
            assert raised.data["rule_id"] == "fall"
            assert raised.data["severity"] == "critical"
            assert raised.data["device_id"] == device
            assert raised.data["group_id"] == "wing-a"
            assert raised.data["session_id"] == reply["session_id"]
            assert raised.data["source"] == "dialog"
            assert raised.data["words"] == FALL
            without_words = await plain.next()
            assert without_words.event == "alert"
            assert "words" not in without_words.data
            alert_id = raised.data["alert_id"]

            (hook,) = receiver.wait_for(1)
            assert hook.signature_ok
            assert hook.headers["x-companion-event"] == "alert"
            body = hook.json
            assert body["type"] == "alert"
            assert body["alert"]["alert_id"] == alert_id
            assert body["alert"]["words"] == FALL
            assert body["alert"]["rule_id"] == "fall"

            async with http(live) as client:
                listed = (await client.get("/alerts", params={"device_id": device})).json()
                assert listed["total"] == 1
                assert listed["alerts"][0]["alert_id"] == alert_id
                assert listed["alerts"][0]["words"] is None  # no transcripts:read scope
                assert listed["alerts"][0]["status"] == "open"
                acked = await client.post(f"/alerts/{alert_id}/ack")
                assert acked.status_code == 200, acked.text
                assert acked.json()["status"] == "acknowledged"
                assert acked.json()["acked_by"] == "nurse-station"
                again = await client.post(f"/alerts/{alert_id}/ack")
                assert again.json()["acked_at"] == acked.json()["acked_at"]
                assert_error(await client.post("/alerts/alt_unknown/ack"), 404, "ALERT_NOT_FOUND")
                assert_error(await client.get("/alerts/alt_unknown"), 404, "ALERT_NOT_FOUND")
                open_now = (await client.get("/alerts", params={"status": "open"})).json()
                assert open_now["total"] == 0
            async with http(live, TRANSCRIPTS_SCOPE) as client:
                one = (await client.get(f"/alerts/{alert_id}")).json()
                assert one["words"] == FALL
                assert one["matched"] == "i fell"
            ack = await plain.next()
            assert ack.event == "alert_ack"
            assert ack.data["alert_id"] == alert_id
    # Every log line of the server's run (it logs in this process): ids and rules, never the words.
    assert any(alert_id in record.getMessage() for record in caplog.records)
    assert not any("kitchen" in record.getMessage().lower() for record in caplog.records)


async def test_negations_and_ordinary_words_raise_nothing(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path)) as live:
        device, _ = await register(live)
        async with open_stream(
            live.api_url, token(live, TRANSCRIPTS_SCOPE), params={"kinds": "alert"}
        ) as stream:
            for text in (
                "I didn't fall, I sat down.",
                "I fell asleep after lunch.",
                "I nearly fell over, ha.",
            ):
                reply = await say(live, device, text)
                assert not reply["response_text"].startswith(HELP_LINE)
            await say(live, device, "Somebody help me, please.")  # checked after the others, in order
            only = await stream.next()
            assert only.data["rule_id"] == "help"
            assert only.data["words"] == "Somebody help me, please."
        async with http(live) as client:
            assert (await client.get("/alerts")).json()["total"] == 1


async def test_a_device_sockets_typed_turn_raises_an_alert(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path)) as live:
        device, device_token = await register(live)
        async with open_stream(live.api_url, token(live), params={"kinds": "alert"}) as stream:
            async with await DeviceClient.connect(live.ws_url, device, device_token) as socket:
                await socket.send("text_input", {"text": "I can't breathe properly."})
                reply = await socket.expect("audio_response")
                assert reply["payload"]["text"].startswith(HELP_LINE)
            raised = await stream.next()
        assert raised.data["rule_id"] == "breathing"
        assert raised.data["source"] == "text_input"
        assert raised.data["device_id"] == device


async def test_the_webhook_is_retried_after_the_receivers_500s(tmp_path: Path) -> None:
    with (
        webhook_receiver(SECRET, statuses=[500, 503]) as receiver,
        live_server(
            make_settings(tmp_path, alert_webhook_urls=receiver.url, alert_webhook_secret=SECRET)
        ) as live,
    ):
        device, _ = await register(live)
        await say(live, device, "My chest hurts.")
        attempts = receiver.wait_for(3)
        assert [r.status for r in attempts] == [500, 503, 200]
        assert [r.headers["x-companion-attempt"] for r in attempts] == ["1", "2", "3"]
        assert all(r.signature_ok for r in attempts)
        assert len({r.headers["x-companion-delivery"] for r in attempts}) == 1
        assert attempts[2].body == attempts[0].body
        assert json.loads(attempts[2].body)["alert"]["rule_id"] == "chest_pain"
        assert len(receiver.delivered()) == 1


def test_a_forged_signature_is_refused_by_the_receivers_check() -> None:
    receiver = WebhookReceiver(SECRET)
    good = {"x-companion-timestamp": "1", "x-companion-signature": "v1=00"}
    receiver.record(good, b"{}")
    assert receiver.received[0].signature_ok is False


async def test_a_groups_rules_apply_to_its_devices_only(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "wing-b.toml").write_text(
        '[[rules]]\nid = "wandering"\nseverity = "warning"\nphrases = ["let me out", "i * going outside"]\n'
    )
    with live_server(make_settings(tmp_path, alert_rules_dir=rules)) as live:
        in_a, _ = await register(live, "wing-a")
        in_b, _ = await register(live, "wing-b")
        async with open_stream(live.api_url, token(live), params={"kinds": "alert"}) as stream:
            reply = await say(live, in_b, "Let me out, I am going outside.")
            assert not reply["response_text"].startswith(HELP_LINE)  # a warning: the reply is unchanged
            await say(live, in_a, "Let me out, I am going outside.")
            await say(live, in_a, "Help! Help!")
            first = await stream.next()
            second = await stream.next()
        assert (first.data["device_id"], first.data["rule_id"], first.data["severity"]) == (
            in_b,
            "wandering",
            "warning",
        )
        assert (second.data["device_id"], second.data["rule_id"]) == (in_a, "help")


def test_a_bad_rules_file_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "wing-c.toml").write_text('[[rules]]\nid = "x"\nseverity = "urgent"\nphrases = ["a"]\n')
    settings = Settings(jwt_secret=TEST_SECRET, state_dir=tmp_path, alert_rules_dir=tmp_path)
    with pytest.raises(RulesError, match=r"wing-c\.toml.*severity"):
        create_app(settings)


def test_webhook_urls_need_a_secret(tmp_path: Path) -> None:
    settings = Settings(jwt_secret=TEST_SECRET, state_dir=tmp_path, alert_webhook_urls="http://127.0.0.1:9/x")
    with pytest.raises(ValueError, match="ALERT_WEBHOOK_SECRET"):
        create_app(settings)


async def test_alert_listing_is_for_operators_and_pages(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path, alert_repeat_s=0)) as live:
        device, device_token = await register(live)
        async with open_stream(live.api_url, token(live), params={"kinds": "alert"}) as stream:
            for _ in range(3):
                await say(live, device, "Help! Help!")
            ids = [(await stream.next()).data["alert_id"] for _ in range(3)]
        async with http(live) as client:
            first = (await client.get("/alerts", params={"limit": 2})).json()
            assert [a["alert_id"] for a in first["alerts"]] == ids[::-1][:2]  # newest first
            rest = (await client.get("/alerts", params={"limit": 2, "cursor": first["next_cursor"]})).json()
            assert [a["alert_id"] for a in rest["alerts"]] == [ids[0]]
            assert rest["next_cursor"] is None
            assert first["total"] == 3
            assert_error(await client.get("/alerts", params={"severity": "loud"}), 422, "VALIDATION_ERROR")
        async with httpx.AsyncClient(
            base_url=live.api_url, headers={"Authorization": f"Bearer {device_token}"}
        ) as dev:
            assert_error(await dev.get("/alerts"), 403, "FORBIDDEN")
