"""Reminders over REST on a real server (no voice models), memory and Redis: the request's rules
in the spec's error body, listing with filters and pages, deletion; a device that is offline when its
reminder is due: the occurrence waits and is marked missed after its window (on the event stream
too); a schedule kept in Redis survives a restart and is moved on by the next instance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer, live_server, make_settings
from tests.support.redis_server import running_redis_server
from tests.support.sse import open_stream

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis_server() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> dict[str, Any]:
    if request.param == "memory":
        return {}
    return {"redis_url": redis_url, "redis_key_prefix": f"rem-{request.node.name}:"}


def client(live: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers, timeout=30)


def soon(seconds: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def register(http: httpx.AsyncClient, name: str = "room 9") -> str:
    response = await http.post("/devices", json={"name": name, "device_type": "tablet"})
    assert response.status_code == 201, response.text
    device_id: str = response.json()["device_id"]
    return device_id


async def test_the_request_rules_are_answered_in_the_spec_error_body(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path)) as live:
        async with client(live) as http:
            device_id = await register(http)
            base = {"at": soon(60), "device_id": device_id, "text": "Time for your tablets."}
            refused = [
                {**base, "user_id": "resident-1"},  # both a device and a resident
                {"at": soon(60), "text": "x"},  # neither
                {**base, "prompt": "remind them of their tablets"},  # both text and prompt
                {**base, "at": "2026-12-07T08:00:00"},  # no UTC offset
                {**base, "confirmation_window_s": 86_401},
                {**base, "missed_window_s": 0},
                {**base, "recurrence": {"every": "fortnight"}},
                {**base, "recurrence": {"every": "week", "days": ["monday"]}},
            ]
            for body in refused:
                assert_error(await http.post("/reminders", json=body), 422, "VALIDATION_ERROR")
            assert_error(
                await http.post("/reminders", json={**base, "device_id": "dev_nobody"}),
                404,
                "DEVICE_NOT_FOUND",
            )
            assert_error(
                await http.post("/reminders", json={**base, "persona_id": "nobody"}), 404, "PERSONA_NOT_FOUND"
            )
            assert_error(await http.get("/reminders/rem_unknown"), 404, "REMINDER_NOT_FOUND")
            assert_error(await http.delete("/reminders/rem_unknown"), 404, "REMINDER_NOT_FOUND")
            registered = await http.post("/devices", json={"name": "hall", "device_type": "tablet"})
            device_token = registered.json()["auth_token"]
        async with httpx.AsyncClient(
            base_url=live.api_url, headers={"Authorization": f"Bearer {device_token}"}
        ) as as_device:
            assert_error(await as_device.post("/reminders", json=base), 403, "FORBIDDEN")
            assert_error(await as_device.get("/reminders"), 403, "FORBIDDEN")


async def test_reminders_are_listed_by_filter_and_page_and_deleted(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    with live_server(make_settings(tmp_path, **backend)) as live:
        async with client(live) as http:
            bedroom, kitchen = await register(http, "bedroom"), await register(http, "kitchen")
            made = []
            for device_id in (bedroom, bedroom, kitchen):
                body = {"at": soon(3600), "device_id": device_id, "text": "Water the plants."}
                response = await http.post("/reminders", json=body)
                assert response.status_code == 201, response.text
                made.append(response.json())
            resident = {
                "at": soon(3600),
                "user_id": "resident-7",
                "prompt": "their physiotherapy exercises",
                "recurrence": {"every": "week", "days": ["mon", "thu"], "interval": 2},
            }
            response = await http.post("/reminders", json=resident)
            assert response.status_code == 201, response.text
            assert response.json()["recurrence"]["days"] == ["mon", "thu"]
            assert response.json()["status"] == "active"
            assert response.json()["occurrences"] == []

            first = (await http.get("/reminders", params={"device_id": bedroom, "limit": 1})).json()
            assert first["total"] == 2
            assert len(first["reminders"]) == 1
            assert first["next_cursor"]
            second = (
                await http.get(
                    "/reminders", params={"device_id": bedroom, "limit": 1, "cursor": first["next_cursor"]}
                )
            ).json()
            assert second["next_cursor"] is None
            ids = {first["reminders"][0]["reminder_id"], second["reminders"][0]["reminder_id"]}
            assert ids == {made[0]["reminder_id"], made[1]["reminder_id"]}
            by_user = (await http.get("/reminders", params={"user_id": "resident-7"})).json()
            assert [r["prompt"] for r in by_user["reminders"]] == ["their physiotherapy exercises"]

            gone = made[2]["reminder_id"]
            assert (await http.delete(f"/reminders/{gone}")).status_code == 204
            assert_error(await http.get(f"/reminders/{gone}"), 404, "REMINDER_NOT_FOUND")
            assert (await http.get("/reminders")).json()["total"] == 3


async def test_an_offline_device_reminder_waits_then_is_missed(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    with live_server(make_settings(tmp_path, reminder_poll_s=0.2, **backend)) as live:
        async with client(live) as http:
            device_id = await register(http)
            async with open_stream(live.api_url, live.token(), params={"kinds": "reminder"}) as stream:
                body = {"at": soon(0), "device_id": device_id, "text": "Lunch time.", "missed_window_s": 2}
                response = await http.post("/reminders", json=body)
                assert response.status_code == 201, response.text
                reminder_id = response.json()["reminder_id"]
                missed = await stream.next_of("reminder")
            assert missed.data["reminder_id"] == reminder_id
            assert missed.data["state"] == "missed"
            assert missed.data["device_id"] == device_id
            shown = (await http.get(f"/reminders/{reminder_id}")).json()
            (occurrence,) = shown["occurrences"]
            assert occurrence["state"] == "missed"
            assert occurrence["spoken_at"] is None
            missed_after = datetime.fromisoformat(occurrence["missed_at"]) - datetime.fromisoformat(
                occurrence["due_at"]
            )
            assert missed_after >= timedelta(seconds=2)  # it waited its window for the device
            assert shown["status"] == "finished"


async def test_a_schedule_in_redis_survives_a_restart(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(
        tmp_path, redis_url=redis_url, redis_key_prefix="rem-restart:", reminder_poll_s=0.2
    )
    with live_server(settings) as first:
        async with client(first) as http:
            device_id = await register(http)
            later = {
                "at": soon(3600),
                "device_id": device_id,
                "text": "Evening tea.",
                "recurrence": {"every": "day"},
            }
            kept = (await http.post("/reminders", json=later)).json()
            due = {"at": soon(3), "device_id": device_id, "text": "Morning tablets.", "missed_window_s": 1}
            moved_on = (await http.post("/reminders", json=due)).json()
    # The first instance is gone before the second reminder's time; the next one takes it up.
    with live_server(
        make_settings(tmp_path, redis_url=redis_url, redis_key_prefix="rem-restart:", reminder_poll_s=0.2)
    ) as second:
        async with client(second) as http:
            assert (await http.get(f"/reminders/{kept['reminder_id']}")).json() == kept
            async with open_stream(second.api_url, second.token(), params={"kinds": "reminder"}) as stream:
                event = await stream.next_of("reminder")
            assert (event.data["reminder_id"], event.data["state"]) == (moved_on["reminder_id"], "missed")
