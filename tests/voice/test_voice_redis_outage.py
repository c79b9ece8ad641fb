"""A spoken turn while Redis is down: answered at once, and kept in the store once Redis is back.

The real models, a real redis-server (its data on disk, as in production) killed with SIGKILL
before the device speaks and started again on the same port after the reply.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from audio_fixtures import load_fixtures
from tests.server.helpers import poll
from tests.support.redis_server import RestartableRedis
from tests.voice.conftest import Microphone, VoiceDevice, converse, operator_http, voice_server_with

FIXTURES = {fixture.name: fixture for fixture in load_fixtures()}
WITHIN_S = 20.0
"""How long the kept writes may take to land once Redis answers again."""


@pytest.fixture
def redis(tmp_path: Path) -> RestartableRedis:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    return RestartableRedis(workdir)


async def test_a_spoken_turn_is_answered_while_redis_is_down_and_kept_once_it_is_back(
    tmp_path: Path, redis: RestartableRedis
) -> None:
    redis.start()
    try:
        with voice_server_with(tmp_path / "state", redis_url=redis.url) as server:
            device = await VoiceDevice.register(server)
            connected = device.messages[0].payload
            session_id, device_id = connected["active_session_id"], connected["device_id"]
            try:
                redis.kill()
                async with Microphone(device) as microphone:
                    turn = await converse(device, microphone, FIXTURES["hello_how_are_you"].pcm)
                assert turn.final.payload["text"]  # answered, with Redis down
                assert not device.is_closed
                redis.start()
                async with operator_http(server) as http:
                    await _kept(http, session_id, device_id, turn.final.payload["audio_url"])
            finally:
                await device.close()
    finally:
        redis.kill()


async def _kept(http: httpx.AsyncClient, session_id: str, device_id: str, audio_url: str) -> None:
    """The turn's context, its metrics and its reply's audio are in the store."""
    session = await poll(
        lambda: http.get(f"/sessions/{session_id}"),
        lambda r: r.status_code == 200 and r.json()["turns"] == 2,
        within=WITHIN_S,
    )
    assert session.json()["turns"] == 2  # the user's words and the reply
    state = await poll(
        lambda: http.get(f"/devices/{device_id}/state"),
        lambda r: r.status_code == 200 and r.json()["metrics"]["interactions_today"] == 1,
        within=WITHIN_S,
    )
    assert state.json()["metrics"]["interactions_today"] == 1
    audio = await poll(lambda: http.get(audio_url), lambda r: r.status_code == 200, within=WITHIN_S)
    assert audio.content[:4] == b"RIFF"
