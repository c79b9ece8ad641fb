from __future__ import annotations

from server.errors import ApiError


class AlertNotFound(ApiError):
    status_code = 404
    error_code = "ALERT_NOT_FOUND"

    def __init__(self, alert_id: str) -> None:
        super().__init__(
            f"Alert '{alert_id}' is not kept (unknown, or past its retention)", details={"alert_id": alert_id}
        )
