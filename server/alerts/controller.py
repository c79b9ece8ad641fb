"""`GET /alerts`, `GET /alerts/{id}`, `POST /alerts/{id}/ack` (operators only).

Newest first, a page at a time (`limit`, `cursor` → `next_cursor`), filtered by device, group,
status, severity and rule. `words` and `matched` are null unless the token has `transcripts:read`.
"""

from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_200_OK

from server.alerts.errors import AlertNotFound
from server.alerts.records import Alert, AlertListResponse, AlertRecord, alert_view
from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import BAD_QUERY, NOT_OPERATOR, Failure, declare
from server.events.controller import TRANSCRIPTS_SCOPE
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, page

ALERT_NOT_FOUND = Failure(404, "ALERT_NOT_FOUND", "no such alert kept (unknown, or past its retention)")
_NEWEST = 10**11


def _newest_first(alert: AlertRecord) -> str:
    return f"{_NEWEST - alert.created_at.timestamp():020.6f}|{alert.alert_id}"


class AlertController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get(
        "/",
        summary="List alerts",
        description="Newest first, a page at a time (`limit`, `cursor` → `next_cursor`); operators only.",
        **declare(NOT_OPERATOR, BAD_QUERY),
    )
    async def list_alerts(
        self,
        request: AnyRequest,
        device_id: FromQuery[str | None] = None,
        group_id: FromQuery[str | None] = None,
        status: FromQuery[Literal["open", "acknowledged"] | None] = None,
        severity: FromQuery[Literal["info", "warning", "critical"] | None] = None,
        rule_id: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> AlertListResponse:
        principal = principal_of(request)
        require_operator(principal)
        found = [
            a
            for a in await services_of(request).alerts.store.all()
            if (device_id is None or a.device_id == device_id)
            and (group_id is None or a.group_id == group_id)
            and (status is None or a.status == status)
            and (severity is None or a.severity == severity)
            and (rule_id is None or a.rule_id == rule_id)
        ]
        chosen, next_cursor = page(found, key=_newest_first, cursor=cursor, limit=limit)
        words = TRANSCRIPTS_SCOPE in principal.scopes
        return AlertListResponse(
            alerts=[alert_view(a, words=words) for a in chosen], total=len(found), next_cursor=next_cursor
        )

    @get("/{alert_id:str}", summary="Get an alert", **declare(NOT_OPERATOR, ALERT_NOT_FOUND))
    async def get_alert(self, request: AnyRequest, alert_id: FromPath[str]) -> Alert:
        principal = principal_of(request)
        require_operator(principal)
        alert = await services_of(request).alerts.store.get(alert_id)
        if alert is None:
            raise AlertNotFound(alert_id)
        return alert_view(alert, words=TRANSCRIPTS_SCOPE in principal.scopes)

    @post(
        "/{alert_id:str}/ack",
        summary="Acknowledge an alert",
        description="Marks it acknowledged by the token's subject; acknowledging it again changes nothing.",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, ALERT_NOT_FOUND),
    )
    async def acknowledge(self, request: AnyRequest, alert_id: FromPath[str]) -> Alert:
        principal = principal_of(request)
        require_operator(principal)
        alert = await services_of(request).alerts.acknowledge(alert_id, principal.subject)
        if alert is None:
            raise AlertNotFound(alert_id)
        return alert_view(alert, words=TRANSCRIPTS_SCOPE in principal.scopes)
