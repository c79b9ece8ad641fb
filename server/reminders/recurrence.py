"""When a reminder's next occurrence is: `next_due(...)`, a pure function of the request's fields.

The first occurrence is `at` itself. After it:
- `minutes`, `day`: `at` plus a whole number of `interval` minutes or days;
- `week`: every `interval`-th week counted from `at`'s week (Monday first), on `days` (default:
  `at`'s weekday), at `at`'s time of day;
- `days`, for `minutes` and `day`, keeps only the times that fall on those weekdays.
Weekdays and times of day are read in `at`'s own UTC offset (a fixed offset: a facility that moves
its clocks for summer time gives the reminder again with the new offset). `count` bounds the number of
occurrences, `until` the last time. A rule whose days can never come (every 7 days, only on another
weekday) ends the series after `SEARCH_LIMIT` candidates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from server.reminders.records import WEEKDAYS, Recurrence

SEARCH_LIMIT = 2000
"""Candidates looked at for the next occurrence before the series is taken to be over."""


def next_due(at: datetime, rule: Recurrence | None, *, after: datetime, made: int) -> datetime | None:
    """The first occurrence of the series later than `after` (None: the series is over), given that
    `made` occurrences (at least the first, at `at`) have been made already."""
    if rule is None or (rule.count is not None and made >= rule.count):
        return None
    found = _first_after(at, rule, after)
    if found is None or (rule.until is not None and found > rule.until):
        return None
    return found


def _first_after(at: datetime, rule: Recurrence, after: datetime) -> datetime | None:
    if rule.every == "week":
        return _weekly(at, rule, after)
    step = timedelta(minutes=rule.interval) if rule.every == "minutes" else timedelta(days=rule.interval)
    # Jump straight to the first step past `after`, then walk while the weekday filter says no.
    steps = max(0, int((after - at) / step) + 1) if after >= at else 0
    for k in range(steps, steps + SEARCH_LIMIT):
        candidate = at + k * step
        if candidate > after and _on_day(candidate, rule):
            return candidate
    return None


def _weekly(at: datetime, rule: Recurrence, after: datetime) -> datetime | None:
    days = {WEEKDAYS.index(d) for d in rule.days} if rule.days else {at.weekday()}
    week_start = at - timedelta(days=at.weekday())
    start = max(0, (after - week_start).days - 1)
    for offset in range(start, start + SEARCH_LIMIT):
        candidate = week_start + timedelta(days=offset)
        if candidate < at or candidate <= after:
            continue
        if (offset // 7) % rule.interval == 0 and candidate.weekday() in days:
            return candidate
    return None


def _on_day(moment: datetime, rule: Recurrence) -> bool:
    return not rule.days or WEEKDAYS[moment.weekday()] in rule.days
