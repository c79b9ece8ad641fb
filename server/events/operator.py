"""The operator event stream and alerts, built from settings, started and closed with the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.alerts.rules import AlertRules
from server.alerts.service import Alerts
from server.alerts.store import AlertStore, MemoryAlertStore
from server.alerts.webhook import Webhooks
from server.events.feed import Feed
from server.events.hub import EventHub
from server.events.log import EventLog, MemoryEventLog
from server.settings import Settings

if TYPE_CHECKING:
    from server.services import Services
    from server.state.base import Store

MIN_WEBHOOK_SECRET = 16


def webhook_urls(settings: Settings) -> tuple[str, ...]:
    """`alert_webhook_urls` as a tuple; `ValueError` (start-up stops) for a URL that is not http(s), or
    URLs without a secret to sign with."""
    urls = tuple(u.strip() for u in settings.alert_webhook_urls.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")) or any(c.isspace() for c in url):
            raise ValueError(f"COMPANION_ALERT_WEBHOOK_URLS: not an http(s) URL: {url[:80]!r}")
    if urls and len(settings.alert_webhook_secret) < MIN_WEBHOOK_SECRET:
        raise ValueError(
            f"COMPANION_ALERT_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters "
            "when COMPANION_ALERT_WEBHOOK_URLS is set"
        )
    return urls


def build_operator_events(
    settings: Settings, *, store: Store, rules: AlertRules
) -> tuple[EventHub, Feed, Alerts]:
    log: EventLog
    alert_store: AlertStore
    if settings.redis_url:
        from server.alerts.store import RedisAlertStore
        from server.events.redis_log import RedisEventLog

        prefix = settings.redis_key_prefix
        log = RedisEventLog.from_url(
            settings.redis_url, key_prefix=prefix, retention=settings.events_retention
        )
        alert_store = RedisAlertStore.from_url(
            settings.redis_url,
            key_prefix=prefix,
            max_alerts=settings.alert_retention,
            max_age_s=settings.alert_retention_s,
        )
    else:
        log = MemoryEventLog(retention=settings.events_retention)
        alert_store = MemoryAlertStore(
            max_alerts=settings.alert_retention, max_age_s=settings.alert_retention_s
        )
    hub = EventHub(log=log, store=store)
    webhooks = Webhooks(
        urls=webhook_urls(settings),
        secret=settings.alert_webhook_secret,
        queue_size=settings.alert_webhook_queue,
        max_attempts=settings.alert_webhook_max_attempts,
    )
    alerts = Alerts(
        rules=rules, store=alert_store, events=hub, webhooks=webhooks, repeat_s=settings.alert_repeat_s
    )
    return hub, Feed(log), alerts


def start_operator_events(services: Services) -> None:
    services.events.start()
    services.feed.start()
    services.alerts.start()


async def close_operator_events(services: Services) -> None:
    await services.alerts.close()
    await services.feed.close()
    await services.events.close()
