"""The LLM engines the settings configure: their clients, opened once per app and shared by every persona."""

from __future__ import annotations

import httpx2
from anthropic import AsyncAnthropic

from personas import PersonaLibrary
from personas.factory import Engine, LLMClients, build_responder, check_engine
from pipeline.llm import Responder
from pipeline.llm.anthropic import make_anthropic_client
from pipeline.llm.openai_compat import make_chat_completions_client
from server.settings import Settings


class LLMEngines:
    """The clients of the configured engines (Anthropic, an OpenAI-compatible server), closed together."""

    def __init__(self, clients: LLMClients) -> None:
        self.clients = clients

    @classmethod
    def open(cls, settings: Settings) -> LLMEngines:
        anthropic = None
        if settings.anthropic_api_key:
            anthropic = make_anthropic_client(
                api_key=settings.anthropic_api_key,
                base_url=settings.anthropic_base_url,
                timeout_s=settings.llm_timeout_s,
            )
        chat_completions = None
        if settings.openai_base_url:
            chat_completions = make_chat_completions_client(
                base_url=settings.openai_base_url,
                api_key=settings.openai_api_key,
                timeout_s=settings.openai_timeout_s or settings.llm_timeout_s,
            )
        return cls(_clients(settings, anthropic=anthropic, chat_completions=chat_completions))

    def responders(self, personas: PersonaLibrary) -> dict[str, Responder]:
        """Each persona's responder, on the engine its file or the server names."""
        return {p.id: build_responder(p, clients=self.clients) for p in personas}

    async def close(self) -> None:
        if self.clients.anthropic is not None:
            await self.clients.anthropic.close()
        if self.clients.chat_completions is not None:
            await self.clients.chat_completions.aclose()


def check_engines(settings: Settings, personas: PersonaLibrary) -> None:
    """Raise `EngineNotConfigured` (before anything starts) for a persona whose engine the settings lack."""
    configured: set[Engine] = set()
    if settings.anthropic_api_key:
        configured.add("anthropic")
    if settings.openai_base_url:
        configured.add("openai-compatible")
    clients = _clients(settings, configured=frozenset(configured))
    for persona in personas:
        check_engine(persona, clients)


def _clients(
    settings: Settings,
    *,
    anthropic: AsyncAnthropic | None = None,
    chat_completions: httpx2.AsyncClient | None = None,
    configured: frozenset[Engine] = frozenset(),
) -> LLMClients:
    return LLMClients(
        default=settings.llm_engine,
        anthropic=anthropic,
        anthropic_model=settings.anthropic_model,
        chat_completions=chat_completions,
        chat_completions_model=settings.openai_model,
        max_retries=settings.llm_max_retries,
        configured=configured,
    )
