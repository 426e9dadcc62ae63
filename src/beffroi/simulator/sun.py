"""Dusk and dawn from the sun's position (astral), for the photocells of lighting cabinets.

Times are computed once per local date for the territory's centre and each switching
elevation; a cabinet then shifts them by its longitude offset from the centre (4 minutes per
degree: the sun crosses a given elevation later further west). Over a metropolis (less than a
degree wide) the latitude effect is well under a minute.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from astral import Observer, SunDirection
from astral.sun import elevation, time_at_elevation

MS_PER_DEGREE_LONGITUDE = 240_000  # the Earth turns one degree in 4 minutes


class SunTable:
    """Setting and rising times (epoch ms) at given solar elevations, per local date."""

    def __init__(self, lon: float, lat: float, zone: ZoneInfo,
                 elevations: tuple[float, ...]) -> None:
        self.observer = Observer(latitude=lat, longitude=lon)
        self.lon = lon
        self.zone = zone
        self.elevations = elevations
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _crossing(self, day: date, elev: float, direction: SunDirection) -> int:
        try:
            when = time_at_elevation(self.observer, elev, day, direction, tzinfo=self.zone)
        except ValueError:
            # The sun never crosses this elevation that day (high latitudes): a night of zero
            # length when it stays above, a full night when it stays below.
            noon = datetime.combine(day, time(12), tzinfo=self.zone)
            above = elevation(self.observer, noon) > elev
            shift = timedelta(hours=12) if above else timedelta(0)
            when = noon + (shift if direction == SunDirection.SETTING else -shift)
        return int(when.timestamp() * 1000)

    def times(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(setting ms, rising ms) per elevation for the local date with this ordinal."""
        found = self._cache.get(day)
        if found is None:
            d = date.fromordinal(day)
            sets = np.array([self._crossing(d, e, SunDirection.SETTING) for e in self.elevations],
                            dtype=np.int64)
            rises = np.array([self._crossing(d, e, SunDirection.RISING) for e in self.elevations],
                             dtype=np.int64)
            if len(self._cache) > 64:
                self._cache.clear()
            found = self._cache[day] = (sets, rises)
        return found

    def night(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Start (dusk of ``day``) and end (dawn of the next day) per elevation, at the centre."""
        return self.times(day)[0], self.times(day + 1)[1]


def solar_elevation(lon: float, lat: float, ts_ms: int) -> float:
    """The sun's elevation in degrees (with refraction), as astral computes it."""
    when = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return float(elevation(Observer(latitude=lat, longitude=lon), when))
