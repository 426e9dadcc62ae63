"""Rules on replayed real data: a year of the RATP Châtelet station's hourly air readings
(../shared/data/paris/ratp_chatelet_air_hourly_2013-2016.csv) through the ingest pipeline,
month by month, and the alarms compared with a direct computation on the same file.

The file's hours are local time; they are used as UTC here (only their order and the hourly
spacing matter, and it avoids the duplicate hour of the autumn clock change). Missing values
are missing readings: an alarm holds across them, as it does in production.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from tests.rules.conftest import H, Rig

RULES = """
rules:
  - id: pm10-over-100
    name: PM10 over 100
    severity: minor
    scope: {types: [AirQualityObserved]}
    when: {kind: threshold, metric: pm10, op: ">", value: 100}
  - id: pm10-episode
    name: PM10 over 200 for 2 h, until below 150
    severity: major
    scope: {types: [AirQualityObserved]}
    when: {kind: threshold, metric: pm10, op: ">", value: 200, for: 2h, clear_below: 150}
  - id: no2-hourly-limit
    name: NO2 over the hourly limit value
    severity: major
    scope: {types: [AirQualityObserved]}
    when: {kind: threshold, metric: no2, op: ">", value: 200}
"""


def _series(path: Path, year: str, column: str) -> list[tuple[int, float]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["date"].startswith(year) and row[column]:
                at = datetime.fromisoformat(f"{row['date']}T{row['time']}").replace(tzinfo=UTC)
                out.append((int(at.timestamp() * 1000), float(row[column])))
    return sorted(out)


def _episodes(values: list[tuple[int, float]], above: float, for_ms: int, clear_below: float
              ) -> int:
    """The duration-and-hysteresis alarm, computed directly."""
    episodes, raised, since = 0, False, None
    for ts, v in values:
        if raised:
            if v < clear_below:
                raised, since = False, None
        elif v > above:
            since = ts if since is None else since
            if ts - since >= for_ms:
                raised, episodes = True, episodes + 1
        else:
            since = None
    return episodes


def test_a_year_of_ratp_readings(rig: Rig, shared_data: Path) -> None:
    path = shared_data / "paris" / "ratp_chatelet_air_hourly_2013-2016.csv"
    pm10 = _series(path, "2015", "pm10")
    no2 = _series(path, "2015", "no2")
    assert len(pm10) > 8000 and len(no2) > 7000
    station = rig.asset("AirQualityObserved", "chatelet")
    rig.rules(RULES)
    readings = sorted([(station, "pm10", ts, v) for ts, v in pm10]
                      + [(station, "no2", ts, v) for ts, v in no2], key=lambda r: r[2])
    month = 30 * 24 * H
    start = readings[0][2]
    batch: list[tuple[str, str, int, float | str]] = []
    for r in readings:
        if r[2] >= start + month:
            rig.feed(*batch)
            batch, start = [], r[2]
        batch.append(r)
    rig.feed(*batch)

    def alarms(rule: str) -> list[dict[str, object]]:
        return rig.alarms(rule=rule)

    # hours above 100 µg/m³: one raise per run of readings above, one update per further hour
    hours_above = sum(1 for _ts, v in pm10 if v > 100)
    runs = sum(1 for i, (_ts, v) in enumerate(pm10)
               if v > 100 and (i == 0 or pm10[i - 1][1] <= 100))
    over_100 = alarms("pm10-over-100")
    assert len(over_100) == runs
    assert sum(1 + int(str(a["updates"])) for a in over_100) == hours_above
    assert 1000 < hours_above < 8000  # the station's PM10 is high: a meaningful test

    expected = _episodes(pm10, 200, 2 * H, 150)
    assert expected > 5
    assert len(alarms("pm10-episode")) == expected

    assert len(alarms("no2-hourly-limit")) == sum(
        1 for i, (_ts, v) in enumerate(no2) if v > 200 and (i == 0 or no2[i - 1][1] <= 200))
    # every alarm but possibly the last of each rule was cleared automatically
    for a in rig.alarms()[:-3]:
        if a["state"] == "cleared":
            assert a["cleared_by"] == "auto"

