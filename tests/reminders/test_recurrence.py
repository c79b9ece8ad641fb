"""When a reminder's next occurrence is: every N minutes, every N days, weekly on days, with a weekday
filter, `count` and `until`, read in `at`'s own UTC offset."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from server.reminders.records import Recurrence
from server.reminders.recurrence import next_due

PARIS = timezone(timedelta(hours=1))
AT = datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)  # a Monday, 08:00 at +01:00


def series(rule: Recurrence | None, n: int, *, at: datetime = AT) -> list[datetime]:
    found = [at]
    while len(found) < n:
        upcoming = next_due(at, rule, after=found[-1], made=len(found))
        if upcoming is None:
            break
        found.append(upcoming)
    return found


def test_a_one_off_reminder_has_no_second_occurrence() -> None:
    assert series(None, 3) == [AT]


def test_every_n_minutes() -> None:
    assert series(Recurrence(every="minutes", interval=90), 3) == [
        AT,
        AT + timedelta(minutes=90),
        AT + timedelta(minutes=180),
    ]


def test_every_day_keeps_the_time_of_day_in_the_offset_given() -> None:
    days = series(Recurrence(every="day"), 3)
    assert [d.isoformat() for d in days] == [
        "2026-12-07T08:00:00+01:00",
        "2026-12-08T08:00:00+01:00",
        "2026-12-09T08:00:00+01:00",
    ]


def test_weekly_on_days_every_second_week() -> None:
    rule = Recurrence(every="week", interval=2, days=["mon", "thu"])
    assert [(d.strftime("%a"), d.day) for d in series(rule, 5)] == [
        ("Mon", 7),
        ("Thu", 10),
        ("Mon", 21),
        ("Thu", 24),
        ("Mon", 4),
    ]


def test_weekly_without_days_is_on_the_weekday_of_at() -> None:
    assert series(Recurrence(every="week"), 2) == [AT, AT + timedelta(days=7)]


def test_days_filter_the_times_a_daily_or_minute_rule_gives() -> None:
    weekdays = series(Recurrence(every="day", days=["mon", "tue", "wed", "thu", "fri"]), 7)
    assert [d.strftime("%a") for d in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon", "Tue"]
    friday_evening = datetime(2026, 12, 11, 23, 0, tzinfo=PARIS)
    hourly = series(Recurrence(every="minutes", interval=60, days=["fri"]), 3, at=friday_evening)
    assert hourly[1] == datetime(2026, 12, 18, 0, 0, tzinfo=PARIS)  # Saturday's hours are left out
    assert hourly[2] == datetime(2026, 12, 18, 1, 0, tzinfo=PARIS)


def test_count_and_until_end_the_series() -> None:
    assert len(series(Recurrence(every="day", count=3), 10)) == 3
    until = AT + timedelta(days=2, hours=1)
    assert series(Recurrence(every="day", until=until), 10)[-1] == AT + timedelta(days=2)


def test_days_that_can_never_come_end_the_series() -> None:
    assert series(Recurrence(every="day", interval=7, days=["tue"]), 3) == [AT]


def test_after_a_long_outage_the_next_occurrence_is_the_first_after_now() -> None:
    now = AT + timedelta(days=100, hours=3)
    assert next_due(AT, Recurrence(every="day"), after=now, made=1) == AT + timedelta(days=101)
    assert next_due(AT, Recurrence(every="week", days=["wed"]), after=now, made=1) == datetime(
        2027,
        3,
        24,
        8,
        0,
        tzinfo=PARIS,  # now is Wednesday 17 March, 11:00: its 08:00 has gone
    )
