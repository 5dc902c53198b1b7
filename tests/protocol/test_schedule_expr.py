"""Schedule expressions: each field and operator of EventBridge's cron, rate and at(), the L/W/# edge cases
(February, leap years, W at month ends), DST in a zone, and every refusal."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from nimbus.errors import ValidationError
from nimbus.protocol.schedule_expr import At, Cron, Rate, next_fire, parse, parse_timezone

UTC = dt.UTC
NY = ZoneInfo("America/New_York")


def t(text: str) -> dt.datetime:
    """An aware UTC datetime from 'YYYY-MM-DD HH:MM[:SS]'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def nxt(expr: str, after: str, tz: ZoneInfo | None = None) -> dt.datetime | None:
    return next_fire(expr, t(after), tz)


# ---- rate -------------------------------------------------------------------------------------------------------


def test_rate_parses_each_unit() -> None:
    assert parse("rate(1 minute)") == Rate(1, "minutes")
    assert parse("rate(5 minutes)").seconds == 300  # type: ignore[union-attr]
    assert parse("rate(1 hour)").seconds == 3600  # type: ignore[union-attr]
    assert parse("rate(2 hours)").seconds == 7200  # type: ignore[union-attr]
    assert parse("rate(1 day)").seconds == 86400  # type: ignore[union-attr]
    assert parse("rate(3 days)").seconds == 3 * 86400  # type: ignore[union-attr]


def test_rate_fires_on_epoch_aligned_boundaries_strictly_after() -> None:
    assert nxt("rate(1 minute)", "2026-11-30 12:00:30") == t("2026-11-30 12:01")
    assert nxt("rate(5 minutes)", "2026-11-30 12:03") == t("2026-11-30 12:05")
    assert nxt("rate(5 minutes)", "2026-11-30 12:05") == t("2026-11-30 12:10")
    assert nxt("rate(1 day)", "2026-11-30 12:00") == t("2026-12-01 00:00")


def test_rate_counts_from_an_anchor() -> None:
    anchor = t("2026-11-30 10:17")
    assert next_fire("rate(2 hours)", t("2026-11-30 11:00"), anchor=anchor) == t("2026-11-30 12:17")
    assert next_fire("rate(2 hours)", t("2026-11-30 12:17"), anchor=anchor) == t("2026-11-30 14:17")
    # before the anchor: the anchor itself is the first fire
    assert next_fire("rate(2 hours)", t("2026-11-30 09:00"), anchor=anchor) == anchor


@pytest.mark.parametrize(
    "text",
    [
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(2 hour)",
        "rate(1 days)",
        "rate(5 weeks)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate( 5 minutes)",
        "rate(5  minutes)",
        "rate(5 minutes",
        "rate(minutes)",
        "rate(5 MINUTES)",
    ],
)
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="Invalid schedule expression"):
        parse(text)


# ---- cron: plain fields -----------------------------------------------------------------------------------------


def test_cron_parses_into_fields() -> None:
    c = parse("cron(0/15 9-17 ? JAN,jul MON-FRI 2026-2027)")
    assert isinstance(c, Cron)
    assert c.minutes == {0, 15, 30, 45}
    assert c.hours == set(range(9, 18))
    assert c.dom is None
    assert c.months == {1, 7}
    assert c.dow is not None
    assert c.dow.days == {2, 3, 4, 5, 6}
    assert c.years == {2026, 2027}


def test_cron_minutes_hours_lists_ranges_steps() -> None:
    assert nxt("cron(0,15,30 * * * ? *)", "2026-11-30 12:16") == t("2026-11-30 12:30")
    assert nxt("cron(*/20 * * * ? *)", "2026-11-30 12:41") == t("2026-11-30 13:00")
    assert nxt("cron(10-30/10 * * * ? *)", "2026-11-30 12:20") == t("2026-11-30 12:30")
    assert nxt("cron(10-30/10 * * * ? *)", "2026-11-30 12:30") == t("2026-11-30 13:10")
    assert nxt("cron(5 9-17 * * ? *)", "2026-11-30 17:05") == t("2026-12-01 09:05")
    assert nxt("cron(0 6/8 * * ? *)", "2026-11-30 07:00") == t("2026-11-30 14:00")


def test_cron_every_minute_is_strictly_after() -> None:
    assert nxt("cron(* * * * ? *)", "2026-11-30 12:00") == t("2026-11-30 12:01")
    assert nxt("cron(* * * * ? *)", "2026-11-30 12:00:01") == t("2026-11-30 12:01")


def test_cron_ranges_wrap() -> None:
    c = parse("cron(0 22-2 ? * FRI-MON *)")
    assert isinstance(c, Cron)
    assert c.hours == {22, 23, 0, 1, 2}
    assert c.dow is not None
    assert c.dow.days == {6, 7, 1, 2}
    # Monday 2026-11-30 23:00 → 2026-12-01 is a Tuesday, so the next is Friday 2026-12-04 at 00:00
    assert nxt("cron(0 22-2 ? * FRI-MON *)", "2026-11-30 23:00") == t("2026-12-04 00:00")


def test_cron_day_of_month_month_names_and_year() -> None:
    assert nxt("cron(0 12 1,15 * ? *)", "2026-11-30 00:00") == t("2026-12-01 12:00")
    assert nxt("cron(0 0 1 JAN ? *)", "2026-11-30 00:00") == t("2027-01-01 00:00")
    assert nxt("cron(0 0 1 mar ? 2029)", "2026-11-30 00:00") == t("2029-03-01 00:00")
    assert nxt("cron(0 0 31 * ? *)", "2026-11-15 00:00") == t("2026-12-31 00:00")  # November has no 31st


def test_cron_day_of_week_numbers_and_names() -> None:
    # 2026-11-30 is a Monday (2); SUN=1 .. SAT=7
    assert nxt("cron(0 8 ? * 1 *)", "2026-11-30 00:00") == t("2026-12-06 08:00")
    assert nxt("cron(0 8 ? * SAT *)", "2026-11-30 00:00") == t("2026-12-05 08:00")
    assert nxt("cron(0 8 ? * MON-FRI *)", "2026-11-30 08:00") == t("2026-12-01 08:00")
    assert nxt("cron(0 8 ? * 2,4 *)", "2026-11-30 08:00") == t("2026-12-02 08:00")


def test_cron_whose_years_ended_has_no_next_fire() -> None:
    assert nxt("cron(0 0 1 1 ? 2020)", "2026-11-30 00:00") is None
    assert nxt("cron(0 0 30 2 ? *)", "2026-11-30 00:00") is None  # February never has a 30th
    assert nxt("cron(0 0 31 12 ? 2199)", "2199-12-31 00:00") is None


# ---- cron: L, W, # ----------------------------------------------------------------------------------------------


def test_last_day_of_month_in_february_and_leap_years() -> None:
    assert nxt("cron(0 0 L * ? *)", "2027-02-10 00:00") == t("2027-02-28 00:00")
    assert nxt("cron(0 0 L * ? *)", "2028-02-10 00:00") == t("2028-02-29 00:00")
    assert nxt("cron(0 0 L * ? *)", "2026-11-30 00:00") == t("2026-12-31 00:00")
    assert nxt("cron(0 0 L 2 ? 2100)", "2099-12-31 00:00") == t("2100-02-28 00:00")  # 2100 is no leap year


def test_leap_day_only_fires_in_leap_years() -> None:
    assert nxt("cron(0 0 29 2 ? *)", "2026-11-30 00:00") == t("2028-02-29 00:00")


def test_nearest_weekday() -> None:
    # 2026-08-01 is a Saturday: 1W is Monday the 3rd (not Friday 31 July, which is another month)
    assert nxt("cron(0 0 1W * ? *)", "2026-07-05 00:00") == t("2026-08-03 00:00")
    # 2026-08-15 is a Saturday: 15W is Friday the 14th; 2026-02-15 is a Sunday: Monday the 16th
    assert nxt("cron(0 0 15W 8 ? *)", "2026-07-01 00:00") == t("2026-08-14 00:00")
    assert nxt("cron(0 0 15W 2 ? 2026)", "2026-01-01 00:00") == t("2026-02-16 00:00")
    # 2026-05-31 is a Sunday: 31W is Friday the 29th (not Monday 1 June)
    assert nxt("cron(0 0 31W 5 ? 2026)", "2026-01-01 00:00") == t("2026-05-29 00:00")
    # a weekday stays itself
    assert nxt("cron(0 0 30W 11 ? 2026)", "2026-11-01 00:00") == t("2026-11-30 00:00")
    # 30W in February: no such day, no fire that month
    assert nxt("cron(0 0 30W 2,3 ? 2027)", "2027-01-01 00:00") == t("2027-03-30 00:00")


def test_last_weekday_of_month() -> None:
    assert nxt("cron(0 0 LW 5 ? 2026)", "2026-01-01 00:00") == t("2026-05-29 00:00")  # 31st is a Sunday
    assert nxt("cron(0 0 LW 11 ? 2026)", "2026-11-01 00:00") == t("2026-11-30 00:00")  # Monday


def test_nth_weekday_of_month() -> None:
    # 2026-12-01 is a Tuesday: the second Tuesday is the 8th
    assert nxt("cron(0 10 ? * 3#2 *)", "2026-11-30 00:00") == t("2026-12-08 10:00")
    assert nxt("cron(0 10 ? * TUE#1 *)", "2026-11-30 00:00") == t("2026-12-01 10:00")
    # December 2026 has four Fridays: the fifth Friday is 2027-01-29
    assert nxt("cron(0 10 ? * 6#5 *)", "2026-12-01 00:00") == t("2027-01-29 10:00")


def test_last_day_of_week_forms() -> None:
    assert nxt("cron(0 10 ? * 6L *)", "2026-11-30 00:00") == t("2026-12-25 10:00")  # last Friday
    assert nxt("cron(0 10 ? * FRIL *)", "2026-11-30 00:00") == t("2026-12-25 10:00")
    assert nxt("cron(0 10 ? * L *)", "2026-11-30 00:00") == t("2026-12-05 10:00")  # L alone: Saturday


# ---- time zones and DST ----------------------------------------------------------------------------------------


def test_cron_in_a_zone() -> None:
    # 09:00 in New York is 14:00 UTC in winter
    assert nxt("cron(0 9 * * ? *)", "2026-11-30 00:00", NY) == t("2026-11-30 14:00")
    berlin = ZoneInfo("Europe/Berlin")
    # Berlin switches to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after
    assert nxt("cron(0 9 * * ? *)", "2026-03-28 00:00", berlin) == t("2026-03-28 08:00")
    assert nxt("cron(0 9 * * ? *)", "2026-03-28 08:00", berlin) == t("2026-03-29 07:00")


def test_spring_forward_skipped_time_fires_once_after_the_jump() -> None:
    # New York skips 02:00-03:00 on 2026-03-08: 02:30 fires at 03:30 EDT (07:30 UTC) that day
    assert nxt("cron(30 2 * * ? *)", "2026-03-07 00:00", NY) == t("2026-03-07 07:30")
    assert nxt("cron(30 2 * * ? *)", "2026-03-07 07:30", NY) == t("2026-03-08 07:30")
    assert nxt("cron(30 2 * * ? *)", "2026-03-08 07:30", NY) == t("2026-03-09 06:30")
    # hourly across the gap: 01:00 EST, then 03:00 EDT, then 04:00 EDT; each once
    fires = [t("2026-03-08 05:30")]
    for _ in range(3):
        nxt_fire = next_fire("cron(0 * * * ? *)", fires[-1], NY)
        assert nxt_fire is not None
        fires.append(nxt_fire)
    assert fires[1:] == [t("2026-03-08 06:00"), t("2026-03-08 07:00"), t("2026-03-08 08:00")]


def test_fall_back_repeated_time_fires_once() -> None:
    # New York repeats 01:00-02:00 on 2026-11-01: 01:30 fires at its first occurrence (EDT) only
    assert nxt("cron(30 1 * * ? *)", "2026-11-01 00:00", NY) == t("2026-11-01 05:30")
    assert nxt("cron(30 1 * * ? *)", "2026-11-01 05:30", NY) == t("2026-11-02 06:30")


def test_unknown_time_zone_is_refused() -> None:
    assert parse_timezone(None) is None
    assert parse_timezone("Europe/Paris") == ZoneInfo("Europe/Paris")
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        parse_timezone("Mars/Olympus")
    with pytest.raises(ValidationError):
        parse_timezone("../etc/passwd")


# ---- at() -------------------------------------------------------------------------------------------------------


def test_at_is_for_scheduler_only() -> None:
    assert parse("at(2026-12-01T10:00:00)", allow_at=True) == At(dt.datetime(2026, 12, 1, 10))
    with pytest.raises(ValidationError, match="Scheduler"):
        parse("at(2026-12-01T10:00:00)")


def test_at_fires_once_then_never() -> None:
    assert nxt("at(2026-12-01T10:00:00)", "2026-11-30 00:00") == t("2026-12-01 10:00")
    assert nxt("at(2026-12-01T10:00:00)", "2026-12-01 10:00") is None
    assert nxt("at(2026-12-01T10:00:00)", "2026-11-30 00:00", NY) == t("2026-12-01 15:00")


@pytest.mark.parametrize(
    "text",
    ["at(2026-02-30T10:00:00)", "at(2026-12-01 10:00:00)", "at(2026-12-01T10:00)", "at(2026-12-01T24:00:00)", "at()"],
)
def test_bad_at_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="Invalid schedule expression"):
        parse(text, allow_at=True)


# ---- refusals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("every 5 minutes", "expected rate"),
        ("cron(0 12 * * ?)", "6 fields"),
        ("cron(0 12 * * ? * *)", "6 fields"),
        ("cron(0 12 ? * ? *)", "exactly one"),
        ("cron(0 12 * * * *)", "exactly one"),
        ("cron(60 12 * * ? *)", "minutes value 60 is outside 0-59"),
        ("cron(0 24 * * ? *)", "hours value 24"),
        ("cron(0 12 0 * ? *)", "day-of-month value 0"),
        ("cron(0 12 32 * ? *)", "day-of-month value 32"),
        ("cron(0 12 1 13 ? *)", "month value 13"),
        ("cron(0 12 1 FOO ? *)", "'FOO' is not a number or a name"),
        ("cron(0 12 ? * 0 *)", "day-of-week value 0"),
        ("cron(0 12 ? * 8 *)", "day-of-week value 8"),
        ("cron(0 12 ? * FUNDAY *)", "not a number or a name"),
        ("cron(0 12 1 * ? 1969)", "year value 1969"),
        ("cron(0 12 1 * ? 2200)", "year value 2200"),
        ("cron(0/0 12 * * ? *)", "step"),
        ("cron(0/x 12 * * ? *)", "step"),
        ("cron(0,,5 12 * * ? *)", "empty list item"),
        ("cron(0 12 ? * 3#6 *)", "1-5"),
        ("cron(0 12 ? * 3#0 *)", "1-5"),
        ("cron(0 12 ? * 8#1 *)", "day-of-week value 8"),
        ("cron(0 12 3#2 * ? *)", "day-of-week"),
        ("cron(0 12 L-3 * ? *)", "L and W stand alone"),
        ("cron(0 12 32W * ? *)", "day-of-month value 32"),
        ("cron(0 12 ? * 5W *)", "not a number or a name"),
        ("cron(0 12 ? * 9L *)", "day-of-week value 9"),
        ("cron(a 12 * * ? *)", "minutes value 'a'"),
        ("cron(0 1-x * * ? *)", "hours value 'x'"),
    ],
)
def test_bad_expressions_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValidationError, match="Invalid schedule expression") as e:
        parse(text, allow_at=True)
    assert why in e.value.message
