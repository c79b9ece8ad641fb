"""Reminders end to end with the real models, on a real socket: the device says the reminder when it
is due (reply audio and its text) in the reminder's persona's voice (else the device's current one);
the resident's spoken "Yes, I took it." confirms it (REST and the event stream); an ordinary turn
does not, and the unconfirmed reminder raises an alert; two instances on one redis-server say each
reminder once; a `prompt` is worded by the persona's engine (a fake Anthropic API), and when that
fails the plain fallback line is said."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from audio_fixtures import load_fixtures
from audio_fixtures.reminders import load_reminder_fixtures
from benchmarks.lib.device import register_device
from personas import load_library
from personas.voices import voice_spec_for
from pipeline.voices import VoiceBank
from server.reminders.speaking import FALLBACK_LINE
from tests.fakes.anthropic_server import fake_anthropic
from tests.support.pitch import estimate_f0
from tests.support.redis_server import running_redis_server
from tests.support.sse import EventStream, open_stream
from tests.voice.conftest import (
    REPLY_WAIT_S,
    Microphone,
    VoiceDevice,
    converse,
    of_type,
    operator_http,
    pcm_of,
    voice_server_with,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CONFIRMATIONS = {fixture.name: fixture for fixture in load_reminder_fixtures()}
ORDINARY = {fixture.name: fixture for fixture in load_fixtures()}
TABLETS = "Time for your heart tablets."
WATER = "Please drink a glass of water."


def now() -> str:
    return datetime.now(UTC).isoformat()


async def schedule(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await http.post("/reminders", json={"at": now(), **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def said(device: VoiceDevice, text: str, since: int) -> None:
    """The device got the line as reply audio (chunks with sound) and its text."""
    final = await device.wait_for(
        of_type("audio_response", final=True, text=text), since=since, timeout=REPLY_WAIT_S
    )
    chunks = device.received(
        of_type("audio_response", final=False, text=text), since=since, until=final.index
    )
    assert chunks
    assert sum(len(pcm_of(c)) for c in chunks) > 0


async def state_of(stream: EventStream, reminder_id: str, state: str) -> dict[str, Any]:
    event = await stream.wait_for(
        lambda e: e.event == "reminder" and e.data["reminder_id"] == reminder_id and e.data["state"] == state,
        timeout=REPLY_WAIT_S,
    )
    data: dict[str, Any] = event.data
    return data


async def test_a_reminder_is_said_and_confirmed_by_voice_and_an_unconfirmed_one_raises_an_alert(
    tmp_path: Path,
) -> None:
    with voice_server_with(tmp_path, reminder_poll_s=0.2) as server:
        async with operator_http(server) as http:
            device_id, token = await register_device(http, "room 12")
        device = await VoiceDevice.connect(server, device_id, token)
        try:
            params = {"kinds": "reminder,alert", "device_id": device_id}
            microphone = Microphone(device)
            async with (
                open_stream(server.api_url, server.token(), params=params) as stream,
                operator_http(server) as http,
                microphone,
            ):
                since = device.mark()
                tablets = await schedule(http, device_id=device_id, text=TABLETS, confirmation_window_s=60)
                await said(device, TABLETS, since)
                await state_of(stream, tablets["reminder_id"], "spoken")

                turn = await converse(device, microphone, CONFIRMATIONS["yes_took_it"].pcm)
                assert "took it" in turn.transcripts[0].payload["text"].lower()
                await state_of(stream, tablets["reminder_id"], "confirmed")
                shown = (await http.get(f"/reminders/{tablets['reminder_id']}")).json()
                (occurrence,) = shown["occurrences"]
                assert occurrence["state"] == "confirmed"
                assert occurrence["device_id"] == device_id
                assert occurrence["spoken_at"] <= occurrence["confirmed_at"]

                since = device.mark()
                water = await schedule(http, device_id=device_id, text=WATER, confirmation_window_s=8)
                await said(device, WATER, since)
                # An ordinary turn in the window: no answer to the reminder.
                await converse(device, microphone, ORDINARY["weather_outside"].pcm)
                seen: dict[str, dict[str, Any]] = {}  # the alert goes out first, then the reminder's change
                while len(seen) < 2:
                    event = await stream.next(REPLY_WAIT_S)
                    if event.event == "alert" or event.data.get("state") == "unconfirmed":
                        seen[event.event] = event.data
                unconfirmed, alert = seen["reminder"], seen["alert"]
                assert unconfirmed["reminder_id"] == water["reminder_id"]
                assert alert["alert_id"] == unconfirmed["alert_id"]
                assert alert["rule_id"] == "reminder_unconfirmed"
                assert alert["source"] == "reminder"
                kept = (await http.get(f"/alerts/{unconfirmed['alert_id']}")).json()
                assert kept["device_id"] == device_id
                assert (await http.get(f"/reminders/{water['reminder_id']}")).json()["occurrences"][0][
                    "state"
                ] == "unconfirmed"
        finally:
            await device.close()


async def test_two_instances_on_one_redis_say_each_reminder_once(tmp_path: Path) -> None:
    lines = [f"Reminder number {n}: the hairdresser comes today." for n in ("one", "two", "three", "four")]
    with running_redis_server() as redis_url:
        shared = {"redis_url": redis_url, "redis_key_prefix": "rem-two:", "reminder_poll_s": 0.1}
        with (
            voice_server_with(tmp_path / "a", **shared) as voiced,
            voice_server_with(tmp_path / "b", **shared) as other,
        ):
            async with operator_http(voiced) as http:
                device_id, token = await register_device(http, "room 3")
            device = await VoiceDevice.connect(voiced, device_id, token)
            try:
                since = device.mark()
                async with operator_http(voiced) as on_a, operator_http(other) as on_b:
                    made = [
                        await schedule(http, device_id=device_id, text=line, confirmation_window_s=0)
                        for http, line in zip((on_a, on_b, on_a, on_b), lines, strict=True)
                    ]
                    for line in lines:
                        await said(device, line, since)
                    # Both schedulers go on looking (every 0.1 s) while the device is quiet a while.
                    await asyncio.sleep(3)
                    for reminder in made:
                        shown = (await on_b.get(f"/reminders/{reminder['reminder_id']}")).json()
                        assert [o["state"] for o in shown["occurrences"]] == ["spoken"]
                for line in lines:
                    assert (
                        len(device.received(of_type("audio_response", final=True, text=line), since=since))
                        == 1
                    )
            finally:
                await device.close()


async def pitch_of(persona_id: str, text: str) -> tuple[int, float]:
    """The persona's voice, built from the library as the server builds it, saying `text`."""
    bank = VoiceBank()
    try:
        persona = next(p for p in load_library() if p.id == persona_id)
        voice = bank.get(voice_spec_for(persona))
        pcm = np.concatenate([chunk async for chunk in voice.synthesize(text)])
        return voice.sample_rate, estimate_f0(pcm, voice.sample_rate)
    finally:
        await bank.close()


async def test_a_reminder_is_said_in_its_persona_voice_or_else_the_device_current_one(tmp_path: Path) -> None:
    current, chosen = "storyteller", "memory_keeper"
    prints = {p: await pitch_of(p, WATER) for p in (current, chosen)}
    with voice_server_with(tmp_path, reminder_poll_s=0.2) as server:
        async with operator_http(server) as http:
            device_id, token = await register_device(http, "room 5")
            response = await http.post("/sessions", json={"device_id": device_id, "persona_id": current})
            assert response.status_code == 201, response.text
        device = await VoiceDevice.connect(server, device_id, token)
        try:
            async with operator_http(server) as http:
                heard = {}
                for persona_id in (chosen, None):
                    since = device.mark()
                    fields = {"persona_id": persona_id} if persona_id else {}
                    await schedule(http, device_id=device_id, text=WATER, confirmation_window_s=0, **fields)
                    await said(device, WATER, since)
                    chunks = device.received(of_type("audio_response", final=False, text=WATER), since=since)
                    (rate,) = {c.payload["sample_rate"] for c in chunks}
                    f0 = estimate_f0(np.concatenate([pcm_of(c) for c in chunks]), rate)
                    same_rate = {p: f for p, (r, f) in prints.items() if r == rate}
                    heard[persona_id] = min(same_rate, key=lambda p: abs(math.log(f0 / same_rate[p])))
            assert heard == {chosen: chosen, None: current}
        finally:
            await device.close()


async def test_a_prompt_is_worded_by_the_persona_engine_and_its_failure_says_the_plain_line(
    tmp_path: Path,
) -> None:
    with fake_anthropic() as llm:
        engine = {"anthropic_api_key": "test-key", "anthropic_base_url": llm.base_url, "llm_max_retries": 0}
        with voice_server_with(tmp_path, reminder_poll_s=0.2, **engine) as server:
            async with operator_http(server) as http:
                device_id, token = await register_device(http, "room 8")
            device = await VoiceDevice.connect(server, device_id, token)
            try:
                async with operator_http(server) as http:
                    llm.reply_text = "Time to put in your eye drops, dear."
                    since = device.mark()
                    await schedule(
                        http, device_id=device_id, prompt="their eye drops", confirmation_window_s=0
                    )
                    await said(device, llm.reply_text, since)
                    assert "their eye drops" in str(llm.requests[-1].body["messages"])

                    llm.fail_with_status = (500, "api_error")
                    since = device.mark()
                    await schedule(http, device_id=device_id, prompt="their walk", confirmation_window_s=0)
                    await said(device, FALLBACK_LINE, since)
            finally:
                await device.close()


async def test_a_resident_reminder_is_said_on_the_device_holding_their_session(tmp_path: Path) -> None:
    with voice_server_with(tmp_path, reminder_poll_s=0.2) as server:
        async with operator_http(server) as http:
            lounge_id, lounge_token = await register_device(http, "lounge")
            bedroom_id, bedroom_token = await register_device(http, "bedroom")
            response = await http.post(
                "/sessions",
                json={"device_id": bedroom_id, "persona_id": "companion", "user_id": "resident-7"},
            )
            assert response.status_code == 201, response.text
        lounge = await VoiceDevice.connect(server, lounge_id, lounge_token)
        bedroom = await VoiceDevice.connect(server, bedroom_id, bedroom_token)
        try:
            async with operator_http(server) as http:
                since = lounge.mark(), bedroom.mark()
                made = await schedule(http, user_id="resident-7", text=TABLETS, confirmation_window_s=0)
                await said(bedroom, TABLETS, since[1])
                shown = (await http.get(f"/reminders/{made['reminder_id']}")).json()
            assert shown["occurrences"][0]["device_id"] == bedroom_id
            assert lounge.received(of_type("audio_response", text=TABLETS), since=since[0]) == []
        finally:
            await lounge.close()
            await bedroom.close()
