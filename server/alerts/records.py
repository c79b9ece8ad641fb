"""An alert as kept in the store, and as REST shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from server.alerts.rules import Severity

AlertStatus = Literal["open", "acknowledged"]
Source = Literal["voice", "text_input", "dialog", "reminder"]
"""What raised it: a turn (spoken, typed on the device, over REST), or a reminder left unconfirmed."""
MAX_WORDS = 500
"""At most this many characters of what was said are kept with an alert."""


class AlertRecord(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    device_id: str
    group_id: str | None
    session_id: str | None
    rule_id: str
    severity: Severity
    source: Source
    created_at: datetime
    words: str
    """What the resident said (at most `MAX_WORDS` characters): shown only to a token with the
    `transcripts:read` scope, and sent to the webhook; never logged."""
    matched: str
    """The words of the rule's phrase that matched (normalised)."""
    status: AlertStatus = "open"
    acked_at: datetime | None = None
    acked_by: str | None = None


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /alerts` and `POST /alerts/{id}/ack`: an alert; `words` and `matched` are null unless the
    token has the `transcripts:read` scope."""

    alert_id: str
    device_id: str
    group_id: str | None
    session_id: str | None
    rule_id: str
    severity: Severity
    source: Source
    created_at: datetime
    status: AlertStatus
    acked_at: datetime | None
    acked_by: str | None
    words: str | None
    matched: str | None


class AlertListResponse(msgspec.Struct, frozen=True, kw_only=True):
    alerts: list[Alert]
    total: int
    next_cursor: str | None


def alert_view(record: AlertRecord, *, words: bool) -> Alert:
    return Alert(
        alert_id=record.alert_id,
        device_id=record.device_id,
        group_id=record.group_id,
        session_id=record.session_id,
        rule_id=record.rule_id,
        severity=record.severity,
        source=record.source,
        created_at=record.created_at,
        status=record.status,
        acked_at=record.acked_at,
        acked_by=record.acked_by,
        words=record.words if words else None,
        matched=record.matched if words else None,
    )
