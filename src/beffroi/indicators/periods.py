"""Periods of indicators on the territory's local calendar: day, ISO week, month, year and
contract year (starting on the contract's start date). A window is ``[start_ms, end_ms)`` in
UTC milliseconds; its bounds are local midnights, so a day of a daylight-saving change lasts 23
or 25 hours, and windows line up with the day rollups.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.models import PERIODS, Window


def _ms(d: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(d, time(), tzinfo=zone).timestamp() * 1000)


def _add_months(d: date, months: int) -> date:
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def _contract_year_start(d: date, start: date) -> date:
    """The start of the contract year containing ``d`` (years run from ``start``'s day)."""
    year = d.year if (d.month, d.day) >= (start.month, start.day) else d.year - 1
    day = min(start.day, 28) if start.month == 2 else start.day
    return date(year, start.month, day)


def window_of(period: str, day: date, zone: ZoneInfo, contract_start: date | None = None
              ) -> Window:
    """The window of ``period`` that contains the local date ``day``."""
    if period == "day":
        a, b, label = day, day + timedelta(days=1), day.isoformat()
    elif period == "week":
        a = day - timedelta(days=day.weekday())
        b = a + timedelta(days=7)
        iso = a.isocalendar()
        label = f"{iso.year}-W{iso.week:02d}"
    elif period == "month":
        a = day.replace(day=1)
        b = _add_months(a, 1)
        label = f"{a.year}-{a.month:02d}"
    elif period == "year":
        a, b, label = date(day.year, 1, 1), date(day.year + 1, 1, 1), str(day.year)
    elif period == "contract_year":
        if contract_start is None:
            raise ValidationFailed("a contract year needs a contract",
                                   [field_error("period", "contract_year needs --contract")])
        a = _contract_year_start(day, contract_start)
        b = _contract_year_start(a + timedelta(days=370), contract_start)
        label = f"C{a.isoformat()}"
    else:
        raise ValidationFailed(f"unknown period {period!r}",
                               [field_error("period", f"one of {', '.join(PERIODS)}")])
    return Window(period, label, _ms(a, zone), _ms(b, zone))


def windows_between(period: str, first: date, last: date, zone: ZoneInfo,
                    contract_start: date | None = None) -> list[Window]:
    """Every window of ``period`` overlapping the local dates ``first``..``last`` (inclusive)."""
    if last < first:
        raise ValidationFailed("the end is before the start",
                               [field_error("to", "must not be before 'from'")])
    out: list[Window] = []
    w = window_of(period, first, zone, contract_start)
    end = _ms(last + timedelta(days=1), zone)
    while w.start_ms < end:
        out.append(w)
        if len(out) > 5000:
            raise ValidationFailed("too many periods",
                                   [field_error("to", "at most 5,000 periods at once")])
        nxt = datetime.fromtimestamp(w.end_ms / 1000, zone).date()
        w = window_of(period, nxt, zone, contract_start)
    return out


_LABEL = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "year": re.compile(r"^(\d{4})$"),
}


def parse_label(label: str, zone: ZoneInfo, contract_start: date | None = None) -> Window:
    """``2026-11-22`` (day), ``2026-W47`` (ISO week), ``2026-11`` (month), ``2026`` (year),
    ``C2026-04-01`` (contract year starting that day) → its window."""
    text = label.strip()
    try:
        if text.startswith("C"):
            return window_of("contract_year", date.fromisoformat(text[1:]), zone,
                             contract_start or date.fromisoformat(text[1:]))
        for period, pattern in _LABEL.items():
            m = pattern.match(text)
            if not m:
                continue
            if period == "day":
                return window_of("day", date.fromisoformat(text), zone)
            if period == "week":
                return window_of("week", date.fromisocalendar(int(m[1]), int(m[2]), 1), zone)
            if period == "month":
                return window_of("month", date(int(m[1]), int(m[2]), 1), zone)
            return window_of("year", date(int(m[1]), 1, 1), zone)
    except ValueError as exc:
        raise ValidationFailed(f"{label!r} is not a period",
                               [field_error("period", str(exc))]) from exc
    raise ValidationFailed(f"{label!r} is not a period", [field_error(
        "period", "a day 2026-11-22, a week 2026-W47, a month 2026-11, a year 2026 or a "
                  "contract year C2026-04-01")])


def local_iso(ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="minutes")
