"""The city's weather, traffic level and air episodes, and the stations that observe them.

``City`` draws one day of weather at a time from the Paris-Montsouris statistics (daily
maximum and minimum with day-to-day persistence, wet and dry spells, rain spread over one spell,
snow that falls below 1 °C and melts by degree-days, a Weibull daily wind) and spreads it over
the day. Weather and air-quality stations observe it with their own siting offsets and noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick, interpolate_hourly, local_ms
from beffroi.simulator.domains.base import Conditions, Context, Domain, ar1, every
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import (
    AIR,
    TICK_S,
    TRAFFIC,
    WEATHER,
    WINTER_MONTHS,
    SimAsset,
)

DAILY_PEAK_WIND_H = 15.0  # wind is strongest in the afternoon (mixing), weakest at night
DIURNAL_WIND_AMPLITUDE = 0.15
SPELL_NOISE_LOG_SD = 0.5  # variation of rain intensity within a spell


@dataclass(slots=True)
class _Day:
    ordinal: int
    tmax: float
    tmin: float
    wet: bool
    rain_mm: float
    spell_start_ms: int
    spell_end_ms: int
    wind_ms: float
    episode_days_left: int


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


class City:
    """City-wide conditions, tick after tick (deterministic from the seed)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.months: list[dict[str, float]] = WEATHER.data["months"]
        self.lag1: float = WEATHER.data["tmax_anomaly_lag1"]
        traffic = TRAFFIC.data
        self.flow_weekday: list[float] = traffic["flow_weekday_veh_h"]
        self.flow_weekend: list[float] = traffic["flow_weekend_veh_h"]
        self.flow_mean: float = traffic["mean_flow_veh_h"]
        self.month_factor: list[float] = traffic["month_factor"]
        self.day: _Day | None = None
        self.anomaly = 0.0
        self.wind_z = 0.0
        self.snow_cm = 0.0

    def _draw_day(self, ordinal: int, previous: _Day | None) -> _Day:
        gen = seeding.rng(self.ctx.seed, "city:day", ordinal)
        d = date.fromordinal(ordinal)
        m = self.months[d.month - 1]
        self.anomaly = self.lag1 * self.anomaly + math.sqrt(1 - self.lag1**2) * float(
            gen.standard_normal()
        )
        tmax = m["tmax_mean_c"] + self.anomaly * m["tmax_sd_c"]
        tmin = m["tmin_mean_c"] + self.anomaly * m["tmin_sd_c"] * 0.8 + float(
            gen.normal(0, m["tmin_sd_c"] * 0.6)
        )
        tmin = min(tmin, tmax - 1.0)
        if previous is None:
            p_wet = m["p_wet_after_dry"] / (1 - m["p_wet_after_wet"] + m["p_wet_after_dry"])
        else:
            p_wet = m["p_wet_after_wet"] if previous.wet else m["p_wet_after_dry"]
        wet = bool(gen.random() < p_wet)
        rain = float(gen.exponential(m["wet_day_mean_mm"])) if wet else 0.0
        low, high = WEATHER.rain_hours_range
        hours = int(gen.integers(low, high + 1))
        start_h = float(gen.uniform(0, 24 - hours))
        self.wind_z = WEATHER.wind_lag1 * self.wind_z + math.sqrt(
            1 - WEATHER.wind_lag1**2
        ) * float(gen.standard_normal())
        k = WEATHER.wind_weibull_shape.value
        scale = WEATHER.wind_mean_ms.value / math.gamma(1 + 1 / k)
        u = min(max(_normal_cdf(self.wind_z), 1e-9), 1 - 1e-9)
        wind = scale * (-math.log(1 - u)) ** (1 / k)
        episode_left = max(0, (previous.episode_days_left - 1) if previous else 0)
        if episode_left == 0:
            start_rate = (AIR.episode_start_per_day_winter.value if d.month in WINTER_MONTHS
                          else AIR.episode_start_per_day_other)
            if gen.random() < start_rate:
                episode_left = int(gen.integers(AIR.episode_days[0], AIR.episode_days[1] + 1))
        return _Day(
            ordinal, tmax, tmin, wet, rain,
            local_ms(self.ctx.zone, d, start_h), local_ms(self.ctx.zone, d, start_h + hours),
            wind, episode_left,
        )

    def _day_for(self, ordinal: int) -> _Day:
        if self.day is None or ordinal < self.day.ordinal:
            self.day = self._draw_day(ordinal, None)
        while self.day.ordinal < ordinal:
            self.day = self._draw_day(self.day.ordinal + 1, self.day)
        return self.day

    def conditions(self, tick: Tick) -> Conditions:
        day = self._day_for(tick.day)
        gen = seeding.rng(self.ctx.seed, "city:tick", tick.index)
        h = tick.hour
        # Cosine from the minimum (06:00) up to the maximum (15:00), then back down.
        rise = WEATHER.warmest_local_h - WEATHER.coldest_local_h
        if WEATHER.coldest_local_h <= h <= WEATHER.warmest_local_h:
            x = (h - WEATHER.coldest_local_h) / rise
        else:
            x = 1 - ((h - WEATHER.warmest_local_h) % 24) / (24 - rise)
        temperature = day.tmin + (day.tmax - day.tmin) * (1 - math.cos(math.pi * x)) / 2
        overlap = min(tick.end_ms, day.spell_end_ms) - max(tick.start_ms, day.spell_start_ms)
        precipitation = 0.0
        if day.wet and overlap > 0:
            spell_ms = day.spell_end_ms - day.spell_start_ms
            precipitation = day.rain_mm * overlap / spell_ms * float(
                np.exp(gen.normal(0, SPELL_NOISE_LOG_SD) - SPELL_NOISE_LOG_SD**2 / 2)
            )
        if precipitation > 0 and temperature < WEATHER.snow_below_c.value:
            self.snow_cm += precipitation * WEATHER.snow_cm_per_mm.value
        elif temperature > 0 and self.snow_cm > 0:
            melt = WEATHER.melt_cm_per_degree_day.value * temperature * TICK_S / 86_400
            self.snow_cm = max(0.0, self.snow_cm - melt)
        diurnal = 1 + DIURNAL_WIND_AMPLITUDE * math.cos(
            2 * math.pi * (h - DAILY_PEAK_WIND_H) / 24
        )
        wind = day.wind_ms * diurnal * float(np.exp(gen.normal(0, WEATHER.wind_gust_sd)))
        profile = self.flow_weekend if tick.weekend else self.flow_weekday
        traffic = (interpolate_hourly(profile, h) / self.flow_mean
                   * self.month_factor[tick.month - 1])
        return Conditions(
            temperature_c=temperature, precipitation_mm=precipitation, wind_ms=wind,
            snow_cm=self.snow_cm, traffic_factor=traffic, air_episode=day.episode_days_left > 0,
        )


class WeatherStations(Domain):
    """WeatherObserved: temperature (°C), precipitation (mm per tick), wind (m/s), snow (cm)."""

    types = ("WeatherObserved",)
    key = "weather"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        self.offset_c = self.normal("offset") * WEATHER.station_offset_sd_c
        self.exposure = seeding.between(self.uniform("exposure"), 0.7, 1.2)
        self.snow_factor = seeding.between(self.uniform("snow"), 0.8, 1.2)

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        n = len(self.gids)
        t = "WeatherObserved"
        ts = tick.end_ms
        temperature = cond.temperature_c + self.offset_c + gen.normal(0, 0.2, n)
        rain = cond.precipitation_mm * np.exp(gen.normal(0, 0.2, n))
        wind = np.maximum(0.0, cond.wind_ms * self.exposure * np.exp(gen.normal(0, 0.1, n)))
        out.number(t, "temperature", self.gids, ts, temperature, 1)
        out.number(t, "precipitation", self.gids, ts, rain, 2)
        out.number(t, "windSpeed", self.gids, ts, wind, 1)
        out.number(t, "snowHeight", self.gids, ts, cond.snow_cm * self.snow_factor, 1)


class AirStations(Domain):
    """AirQualityObserved: hourly NO2, PM10 and PM2.5 (µg/m³)."""

    types = ("AirQualityObserved",)
    key = "air"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        roadside = np.array([a.properties.get("station_kind") == "traffic" for a in self.assets])
        self.no2_factor = np.where(roadside, AIR.traffic_station_factor[0], 1.0) * np.exp(
            0.1 * self.normal("no2")
        )
        self.pm_factor = np.where(roadside, AIR.traffic_station_factor[1], 1.0) * np.exp(
            0.1 * self.normal("pm")
        )
        self.shape = AIR.no2_shape
        n = len(self.gids)
        self.noise = np.zeros((3, n))

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        if not every(tick, AIR.report_every_s):
            return
        gen = self.rng(tick)
        self.noise = ar1(self.noise, AIR.noise_persistence, AIR.noise_log_sd, gen)
        hour = int(tick.hour)  # the hour being averaged, stamped at its end
        shape = self.shape["weekend" if tick.weekend else "weekday"][hour]
        dilution = float(np.clip(
            (WEATHER.wind_mean_ms.value / max(cond.wind_ms, 0.5)) ** AIR.wind_dilution_exponent,
            0.5, 2.5,
        ))
        episode_no2 = AIR.episode_no2_factor if cond.air_episode else 1.0
        episode_pm = AIR.episode_pm_factor if cond.air_episode else 1.0
        washout = AIR.rain_washout if cond.raining else 1.0
        no2 = (AIR.no2_mean.value * self.no2_factor * shape * AIR.no2_season[tick.month - 1]
               * dilution * episode_no2 * np.exp(self.noise[0]))
        traffic = 1 - AIR.pm_traffic_share + AIR.pm_traffic_share * cond.traffic_factor
        pm10 = (AIR.pm10_mean.value * self.pm_factor * traffic * AIR.pm_season[tick.month - 1]
                * dilution * episode_pm * washout * np.exp(self.noise[1]))
        pm25 = pm10 * AIR.pm25_ratio.value * np.exp(0.3 * self.noise[2])
        t = "AirQualityObserved"
        out.number(t, "no2", self.gids, tick.end_ms, no2, 1)
        out.number(t, "pm10", self.gids, tick.end_ms, pm10, 1)
        out.number(t, "pm25", self.gids, tick.end_ms, np.minimum(pm25, pm10), 1)
