from __future__ import annotations

from server.errors import ApiError, Conflict


class ReminderNotFound(ApiError):
    status_code = 404
    error_code = "REMINDER_NOT_FOUND"

    def __init__(self, reminder_id: str) -> None:
        super().__init__(f"Reminder '{reminder_id}' does not exist", details={"reminder_id": reminder_id})


def too_many(limit: int) -> Conflict:
    return Conflict(
        f"At most {limit} reminders are kept: delete finished ones first",
        details={"reason": "too_many_reminders", "limit": limit},
    )
