"""§8.4 persona library endpoints."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer


async def test_list_personas(client: httpx.AsyncClient) -> None:
    data = (await client.get("/personas")).json()
    assert data["total"] == len(data["personas"]) >= 5
    ids = [p["id"] for p in data["personas"]]
    assert {"companion", "medication_nurse", "entertainer", "storyteller"} <= set(ids)
    for persona in data["personas"]:
        assert set(persona) == {"id", "name", "description", "version", "tags", "adaptation_mode"}


async def test_filter_by_tag(client: httpx.AsyncClient) -> None:
    everything = (await client.get("/personas")).json()["personas"]
    tag = everything[0]["tags"][0]
    tagged = (await client.get("/personas", params={"tag": tag})).json()
    assert tagged["total"] == sum(tag in p["tags"] for p in everything)
    assert all(tag in p["tags"] for p in tagged["personas"])


async def test_persona_detail(client: httpx.AsyncClient) -> None:
    detail = (await client.get("/personas/medication_nurse")).json()
    fields = "id name description version voice_config behavior_config tags created_at updated_at"
    assert set(detail) == set(fields.split())
    assert detail["voice_config"]["engine"] in {"piper", "espeak-ng", "coqui"}
    assert detail["behavior_config"]["system_prompt"]
    assert datetime.fromisoformat(detail["updated_at"]) >= datetime.fromisoformat(detail["created_at"])


async def test_voices_differ_between_personas(client: httpx.AsyncClient) -> None:
    ids = [p["id"] for p in (await client.get("/personas")).json()["personas"]]
    voices = [(await client.get(f"/personas/{i}")).json()["voice_config"] for i in ids]
    assert len({repr(sorted(v.items())) for v in voices}) == len(voices)


async def test_devices_may_read_the_library(server: LiveServer, client: httpx.AsyncClient) -> None:
    _, token = await register(client)
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        assert (await http.get("/personas")).status_code == 200
        assert (await http.get("/personas/companion")).status_code == 200
        assert_error(await http.get("/personas/nobody"), 404, "PERSONA_NOT_FOUND")
