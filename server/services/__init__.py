"""The application's services, built once per app from its settings and shared by every handler."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from personas import PersonaLibrary
from pipeline.llm import Responder
from server.alerts.rules import AlertRules
from server.alerts.service import Alerts
from server.audio_urls import AudioUrlSigner
from server.auth import TokenService
from server.events.feed import Feed
from server.events.hub import EventHub
from server.events.operator import build_operator_events
from server.live.changes import LiveChanges
from server.ratelimit import RateLimiter
from server.reminders.service import Reminders
from server.reminders.wiring import build_reminders
from server.services.activities import Activities
from server.services.commands import CommandService
from server.services.coordination import Coordinator
from server.services.devices import DeviceService
from server.services.dialog import DialogService
from server.services.residents import ResidentService
from server.services.sessions import SessionService
from server.services.switching import PersonaSwitcher
from server.settings import Settings
from server.state.base import Bus, Store
from server.state.catch_up import CatchUp
from server.state.profiles import profiles_beside
from server.voice.dialog_audio import DialogAudio
from server.voice.latency import LatencyRecorder
from server.voice.reply_audio import ReplyAudio
from server.ws.connection import TakeOvers

if TYPE_CHECKING:
    from server.voice.runtime import VoiceRuntime
    from server.ws.connection import DeviceConnection


@dataclass(eq=False)
class Services:
    settings: Settings
    store: Store
    bus: Bus
    personas: PersonaLibrary
    responders: dict[str, Responder]
    tokens: TokenService
    limiter: RateLimiter
    devices: DeviceService
    sessions: SessionService
    commands: CommandService
    dialog: DialogService
    switcher: PersonaSwitcher
    coordinator: Coordinator
    activities: Activities
    audio_urls: AudioUrlSigner
    latency: LatencyRecorder
    reply_audio: ReplyAudio
    """Reply audio behind pre-signed URLs, kept within bounds of time and bytes."""
    events: EventHub
    """The operator event stream's hooks (server/events): each a call that never waits."""
    feed: Feed
    alerts: Alerts
    """Alert rules checked on what residents say (server/alerts)."""
    residents: ResidentService
    """Residents' profiles, and what a session's persona knows of its person."""
    reminders: Reminders
    """Reminders that are spoken, and their scheduler (server/reminders)."""
    voice: VoiceRuntime | None = None
    """The voice engines, when the server takes audio (settings.voice_enabled)."""
    connections: dict[str, DeviceConnection] = field(default_factory=dict)
    """Device sockets held by this instance."""
    take_overs: TakeOvers = field(default_factory=TakeOvers)
    """One socket of a device at a time takes the device over on this instance (server/ws/handler.py)."""
    catch_up: CatchUp = field(default_factory=CatchUp)
    """Store writes of live devices kept while the store is unreachable, made when it is back."""
    started: float = field(default_factory=time.monotonic)


def build_services(
    settings: Settings,
    *,
    store: Store,
    bus: Bus,
    personas: PersonaLibrary,
    responders: dict[str, Responder],
    voice: VoiceRuntime | None = None,
    alert_rules: AlertRules | None = None,
) -> Services:
    tokens = TokenService(
        secret=settings.jwt_secret, algorithm=settings.jwt_algorithm, issuer=settings.jwt_issuer, store=store
    )
    limiter = RateLimiter(store=store, settings=settings)
    devices = DeviceService(store=store, bus=bus, tokens=tokens, personas=personas, settings=settings)
    changes = LiveChanges(bus=bus)
    sessions = SessionService(
        store=store, devices=devices, personas=personas, settings=settings, changes=changes, limiter=limiter
    )
    commands = CommandService(store=store, bus=bus, settings=settings)
    audio_urls = AudioUrlSigner(secret=settings.jwt_secret, ttl_s=settings.audio_url_ttl_s)
    reply_audio = ReplyAudio(
        store=store,
        ttl_s=settings.audio_url_ttl_s,
        max_bytes=settings.reply_audio_max_bytes,
        max_bytes_per_device=settings.reply_audio_max_bytes_per_device,
    )
    coordinator = Coordinator(
        store=store, bus=bus, sessions=sessions, commands=commands, changes=changes, settings=settings
    )
    residents = ResidentService(profiles=profiles_beside(store))
    events, feed, alerts = build_operator_events(
        settings, store=store, rules=alert_rules or AlertRules.load(settings.alert_rules_dir)
    )
    dialog_voice = None
    if voice is not None:
        dialog_voice = DialogAudio(
            runtime=voice,
            reply_audio=reply_audio,
            audio_urls=audio_urls,
            max_audio_s=settings.dialog_audio_max_s,
        )
    return Services(
        settings=settings,
        store=store,
        bus=bus,
        personas=personas,
        responders=responders,
        tokens=tokens,
        limiter=limiter,
        devices=devices,
        sessions=sessions,
        commands=commands,
        dialog=DialogService(
            store=store,
            sessions=sessions,
            responders=responders,
            limiter=limiter,
            settings=settings,
            changes=changes,
            voice=dialog_voice,
            events=events,
            alerts=alerts,
            briefings=residents.briefing_for,
        ),
        switcher=PersonaSwitcher(
            store=store,
            devices=devices,
            sessions=sessions,
            commands=commands,
            personas=personas,
            changes=changes,
        ),
        coordinator=coordinator,
        activities=Activities(
            store=store, coordinator=coordinator, changes=changes, personas=personas, settings=settings
        ),
        audio_urls=audio_urls,
        latency=LatencyRecorder(),
        events=events,
        feed=feed,
        alerts=alerts,
        residents=residents,
        reminders=build_reminders(
            settings, store=store, changes=changes, responders=responders, alerts=alerts, events=events
        ),
        reply_audio=reply_audio,
        voice=voice,
    )
