"""`create_app(settings)`: the one place the Litestar app is assembled."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from personas import PersonaLibrary, load_library
from server.activities.host import GameHost
from server.alerts.controller import AlertController
from server.alerts.rules import AlertRules
from server.alerts.speech import with_help_line
from server.auth import JWTAuthMiddleware
from server.console import console_router
from server.controllers.audio import reply_audio
from server.controllers.bodies import check_json_body
from server.controllers.coordination import CoordinationController
from server.controllers.devices import DeviceController
from server.controllers.dialog import DialogController
from server.controllers.health import VERSION, health, latency_metrics
from server.controllers.methods import allow_every_method
from server.controllers.openapi import BEARER_SCHEME, RequestBodySchemaPlugin
from server.controllers.personas import PersonaController
from server.controllers.residents import ResidentController
from server.controllers.sessions import SessionController
from server.controllers.webrtc import WebRTCController
from server.events.controller import event_stream
from server.events.operator import close_operator_events, start_operator_events, webhook_urls
from server.heap import settle_after_start_up
from server.http_errors import EXCEPTION_HANDLERS
from server.llm_engines import LLMEngines, check_engines
from server.media.controller import list_media, media_content
from server.paths import API_PREFIX, DOCS_PATH
from server.reminders.controller import ReminderController
from server.request_ids import add_request_id_header
from server.services import build_services
from server.settings import Settings
from server.state.base import Bus, Store
from server.voice.runtime import VoiceRuntime
from server.webrtc.peers import Peers
from server.ws.handler import device_socket

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, personas: PersonaLibrary | None = None, settle_heap: bool = False
) -> Litestar:
    """Build the app. Persona files are loaded (and validated) now, so a bad one stops start-up here.

    `settle_heap` (what `serve` asks for): once start-up is over, freeze what it left alive and set the
    garbage collector for many sessions (`server.heap`); for a process that is this server alone."""
    settings = settings.with_secret()
    library = personas if personas is not None else load_library(settings.personas_dir)
    if settings.default_persona_id not in library:
        raise ValueError(f"default persona '{settings.default_persona_id}' is not in the persona library")
    check_engines(settings, library)  # a persona file naming an engine the settings lack stops start-up here
    alert_rules = AlertRules.load(settings.alert_rules_dir)  # a bad rules file stops start-up here
    webhook_urls(settings)  # and so do webhook URLs that are not http(s), or have no secret

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        store, bus = await _open_state(settings)
        llm = LLMEngines.open(settings)
        responders = with_help_line(llm.responders(library), alert_rules.default)
        voice = await VoiceRuntime.load(settings, library, responders) if settings.voice_enabled else None
        app.state["services"] = build_services(
            settings,
            store=store,
            bus=bus,
            personas=library,
            responders=responders,
            voice=voice,
            alert_rules=alert_rules,
        )
        start_operator_events(app.state["services"])
        app.state["services"].reminders.start()  # the scheduler (server/reminders)
        games = GameHost(app.state["services"])  # runs trivia and story activities (server/activities)
        games.start()
        app.state["peers"] = peers = Peers(app.state["services"])
        if settle_heap:
            settle_after_start_up()
        log.info(
            "instance %s ready: store=%s llm=%s personas=%d",
            settings.instance_id,
            store.backend,
            settings.llm_engine,
            len(library),
        )
        try:
            yield
        finally:
            await games.close()
            await peers.close()  # their devices go offline while the store is still open
            await app.state["services"].catch_up.close()
            await app.state["services"].reminders.close()
            await close_operator_events(app.state["services"])
            if voice is not None:
                await voice.close()
            await bus.close()
            await store.close()
            await llm.close()

    return Litestar(
        route_handlers=[
            Router(
                path=API_PREFIX,
                route_handlers=[
                    DeviceController,
                    PersonaController,
                    DialogController,
                    SessionController,
                    ResidentController,
                    CoordinationController,
                    WebRTCController,
                    AlertController,
                    ReminderController,
                    event_stream,
                    health,
                    latency_metrics,
                    reply_audio,
                    list_media,
                    media_content,
                ],
                before_request=check_json_body,
            ),
            device_socket,
            console_router(),
        ],
        lifespan=[lifespan],
        middleware=[
            DefineMiddleware(
                JWTAuthMiddleware,
                exclude=[f"^{DOCS_PATH}"],
                scopes={ScopeType.HTTP},
                exclude_from_auth_key="exclude_from_auth",
            )
        ],
        plugins=[RequestBodySchemaPlugin()],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_request_id_header, allow_every_method],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Companion Voice Server",
            version=VERSION,
            description="REST control plane and device runtime API of the companion voice server.",
            path=DOCS_PATH,
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            components=Components(
                security_schemes={
                    BEARER_SCHEME: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            # Each operation declares its own security (server/controllers/openapi.py): health and the
            # pre-signed audio URLs need no token.
        ),
        debug=False,
        # The process's logging is set up once, by `server.logs` (one redacting handler at
        # COMPANION_LOG_LEVEL); Litestar's default would replace the root handler with its own.
        logging_config=None,
    )


async def _open_state(settings: Settings) -> tuple[Store, Bus]:
    store: Store
    bus: Bus
    if settings.redis_url:
        from server.state.persistence import check_redis_persistence
        from server.state.redis import RedisStore
        from server.state.redis_bus import RedisBus

        await check_redis_persistence(settings.redis_url, settings.redis_require_persistence)

        store = RedisStore.from_url(
            settings.redis_url,
            key_prefix=settings.redis_key_prefix,
            session_retention_s=settings.session_retention_s,
        )
        bus = RedisBus.from_url(settings.redis_url, key_prefix=settings.redis_key_prefix)
    else:
        from server.state.memory import MemoryBus, MemoryStore

        store = MemoryStore(session_retention_s=settings.session_retention_s)
        bus = MemoryBus()
    await bus.start()
    return store, bus
