"""Which engine answers: the settings' choice (`COMPANION_LLM`, the OpenAI-compatible server's settings), a
persona file's own `engine`, and the start-up refusals when an engine is named without what it needs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from personas import LIBRARY_DIR, load_library
from personas.factory import EngineNotConfigured
from server.app import create_app
from server.llm_engines import check_engines
from server.settings import Settings, SettingsError
from tests.fakes.openai_server import FakeOpenAI, fake_openai
from tests.server.conftest import register
from tests.support.live_server import live_server, make_settings

LOCAL = "http://127.0.0.1:11434/v1"


def local_persona_library(folder: Path, persona_id: str, **llm: str) -> Path:
    """The shipped library, with `persona_id`'s `[behavior_config.llm]` given `llm` (TOML strings)."""
    shutil.copytree(LIBRARY_DIR, folder)
    path = folder / f"{persona_id}.toml"
    lines = "".join(f'{key} = "{value}"\n' for key, value in llm.items())
    text, count = re.subn(r"(\[behavior_config\.llm\]\n)", rf"\g<1>{lines}", path.read_text())
    assert count == 1
    path.write_text(text)
    return folder


@pytest.mark.parametrize(
    ("env", "engine"),
    [
        ({}, "scripted-offline"),
        ({"COMPANION_OPENAI_BASE_URL": LOCAL}, "openai-compatible"),
        ({"COMPANION_OPENAI_BASE_URL": LOCAL, "ANTHROPIC_API_KEY": "k"}, "anthropic"),
        (
            {
                "COMPANION_OPENAI_BASE_URL": LOCAL,
                "ANTHROPIC_API_KEY": "k",
                "COMPANION_LLM": "openai-compatible",
            },
            "openai-compatible",
        ),
        ({"ANTHROPIC_API_KEY": "k", "COMPANION_LLM": "scripted-offline"}, "scripted-offline"),
    ],
)
def test_the_servers_engine(env: dict[str, str], engine: str, tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"COMPANION_STATE_DIR": str(tmp_path), "COMPANION_VOICE_ENABLED": "0", **env}
    )
    assert settings.llm_engine == engine


def test_the_local_servers_settings_are_read_and_openai_api_key_is_not(tmp_path: Path) -> None:
    env = {
        "COMPANION_STATE_DIR": str(tmp_path),
        "COMPANION_OPENAI_BASE_URL": LOCAL,
        "COMPANION_OPENAI_MODEL": "llama3.2:3b",
        "COMPANION_OPENAI_TIMEOUT_S": "45",
        "OPENAI_API_KEY": "sk-cloud-key",  # never sent to a local server
    }
    settings = Settings.from_env(env)
    assert (settings.openai_base_url, settings.openai_model, settings.openai_timeout_s) == (
        LOCAL,
        "llama3.2:3b",
        45,
    )
    assert settings.openai_api_key == ""


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"COMPANION_LLM": "openai-compatible"}, "COMPANION_OPENAI_BASE_URL"),
        ({"COMPANION_LLM": "anthropic"}, "ANTHROPIC_API_KEY"),
        ({"COMPANION_LLM": "llama"}, "COMPANION_LLM"),
        ({"COMPANION_OPENAI_BASE_URL": "ftp://model-server/v1"}, "COMPANION_OPENAI_BASE_URL"),
        ({"COMPANION_OPENAI_TIMEOUT_S": "0"}, "COMPANION_OPENAI_TIMEOUT_S"),
    ],
)
def test_an_engine_without_what_it_needs_stops_start_up(
    env: dict[str, str], named: str, tmp_path: Path
) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env({"COMPANION_STATE_DIR": str(tmp_path), **env})


def test_a_persona_naming_an_engine_the_server_lacks_stops_start_up(tmp_path: Path) -> None:
    folder = local_persona_library(tmp_path / "personas", "storyteller", engine="openai-compatible")
    settings = make_settings(tmp_path, personas_dir=folder)
    with pytest.raises(EngineNotConfigured, match=r"'storyteller'.*'openai-compatible'"):
        create_app(settings)
    # Configured (the others offline), but with no model for it: named too.
    offline = {"openai_base_url": LOCAL, "llm": "scripted-offline"}
    with pytest.raises(EngineNotConfigured, match="'storyteller': no model"):
        check_engines(make_settings(tmp_path, **offline), load_library(folder))
    check_engines(make_settings(tmp_path, **offline, openai_model="m"), load_library(folder))


@pytest.fixture
def model_server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


async def test_one_persona_on_the_local_server_the_others_offline(
    model_server: FakeOpenAI, tmp_path: Path
) -> None:
    folder = local_persona_library(
        tmp_path / "personas", "storyteller", engine="openai-compatible", local_model="tinyllama:1b"
    )
    settings = make_settings(
        tmp_path, personas_dir=folder, openai_base_url=model_server.base_url, llm="scripted-offline"
    )
    with live_server(settings) as server:
        async with httpx.AsyncClient(
            base_url=server.api_url, headers=server.operator_headers, timeout=10
        ) as http:
            assert (await http.get("/health")).json()["llm_engine"] == "scripted-offline"
            device_id, _ = await register(http)
            replies = {}
            for persona_id in ("companion", "storyteller"):
                session = await http.post(
                    "/sessions", json={"device_id": device_id, "persona_id": persona_id}
                )
                assert session.status_code == 201, session.text
                body = {
                    "device_id": device_id,
                    "session_id": session.json()["session_id"],
                    "message": "Hello!",
                }
                response = await http.post("/dialog/send", json=body)
                assert response.status_code == 200, response.text
                replies[persona_id] = response.json()["response_text"]
    assert replies["storyteller"] == model_server.reply_text
    assert replies["companion"] != model_server.reply_text  # the offline script
    (request,) = model_server.requests
    assert request.body["model"] == "tinyllama:1b"
    assert "Old Tom" in request.body["messages"][0]["content"]
