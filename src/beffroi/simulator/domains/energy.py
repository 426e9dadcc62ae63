"""Energy: public buildings whose metered power follows opening hours and heating needs, and
EV charging stations whose points take Poisson arrivals of charging sessions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick
from beffroi.simulator.domains.base import Conditions, Context, Domain
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import (
    BUILDING_KINDS,
    BUILDINGS,
    EV,
    HOUR_MS,
    TICK_MS,
    TICK_S,
    WEATHER,
    BuildingKind,
    SimAsset,
)

BUILDING = "Building"
STATION = "EVChargingStation"
HOURS_PER_YEAR = 365.25 * 24
SATURDAY, SUNDAY = 5, 6
DEFAULT_POINTS = 2
NEVER = np.iinfo(np.int64).max


def _mean_heating_degrees() -> float:
    """Yearly mean of max(0, base - outdoor temperature), from the weather table's months."""
    months = WEATHER.data["months"]
    return float(np.mean([
        max(0.0, BUILDINGS.heating_base_c - (m["tmax_mean_c"] + m["tmin_mean_c"]) / 2)
        for m in months
    ]))


class Buildings(Domain):
    types = (BUILDING,)
    key = "building"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        names = [k.name for k in BUILDING_KINDS]
        drawn = (self.uniform("kind") * len(BUILDING_KINDS)).astype(np.int64)
        self.kinds = [
            BUILDING_KINDS[names.index(a.properties["building_kind"])]
            if a.properties.get("building_kind") in names else BUILDING_KINDS[int(drawn[i])]
            for i, a in enumerate(self.assets)
        ]
        u_area = self.uniform("area")
        area = np.array([k.area_m2[0] + (k.area_m2[1] - k.area_m2[0]) * u
                         for k, u in zip(self.kinds, u_area, strict=True)])
        given = self.prop("area_m2", -1.0)
        self.area = np.where(given > 0, given, area)
        self.mean_kw = self.area * np.array([k.kwh_per_m2_year for k in self.kinds]) \
            / HOURS_PER_YEAR
        self.base = np.array([k.base_load_share for k in self.kinds])
        open_share = np.array([self._weekly_open_hours(k) / (7 * 24) for k in self.kinds])
        self.peak = (1 - self.base * (1 - open_share)) / open_share
        self.capacity = self.area / 100 * np.array([k.people_per_100m2 for k in self.kinds])
        self.heating_mean = _mean_heating_degrees()

    @staticmethod
    def _weekly_open_hours(kind: BuildingKind) -> float:
        total = 5 * (kind.open_weekday[1] - kind.open_weekday[0])
        for hours in (kind.open_saturday, kind.open_sunday):
            if hours:
                total += hours[1] - hours[0]
        return total

    def _opening(self, tick: Tick) -> tuple[np.ndarray, np.ndarray]:
        """(open now, position within the opening hours 0..1) per building."""
        is_open = np.zeros(len(self.kinds), dtype=bool)
        position = np.zeros(len(self.kinds))
        for i, k in enumerate(self.kinds):
            hours = (k.open_saturday if tick.weekday == SATURDAY else
                     k.open_sunday if tick.weekday == SUNDAY else k.open_weekday)
            if hours and hours[0] <= tick.hour < hours[1]:
                is_open[i] = True
                position[i] = (tick.hour - hours[0]) / (hours[1] - hours[0])
        return is_open, position

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        n = len(self.gids)
        is_open, position = self._opening(tick)
        shape = np.where(is_open, self.peak, self.base)
        heating = max(0.0, BUILDINGS.heating_base_c - cond.temperature_c) / self.heating_mean
        power = self.mean_kw * shape * (1 - BUILDINGS.heating_share
                                        + BUILDINGS.heating_share * heating)
        power *= np.exp(gen.normal(0, BUILDINGS.noise_sd, n))
        people = np.rint(self.capacity * is_open * np.sqrt(np.sin(np.pi * position))
                         * gen.uniform(0.6, 1.0, n))
        indoor = np.where(is_open, BUILDINGS.indoor_occupied_c, BUILDINGS.indoor_setback_c)
        indoor = indoor + gen.normal(0, BUILDINGS.indoor_sd_c, n)
        t = tick.end_ms
        out.number(BUILDING, "activePower", self.gids, t, power, 2)
        out.number(BUILDING, "energyConsumed", self.gids, t, power * TICK_S / 3600, 3)
        out.number(BUILDING, "temperature", self.gids, t, indoor, 1)
        out.number(BUILDING, "occupancy", self.gids, t, people, 0)


class EVCharging(Domain):
    types = (STATION,)
    key = "ev"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        self.points = np.maximum(1, self.prop("capacity", DEFAULT_POINTS)).astype(np.int64)
        width = int(self.points.max()) if len(self.points) else 1
        n = len(self.gids)
        self.exists = np.arange(width)[None, :] < self.points[:, None]
        self.leave_at = np.zeros((n, width), dtype=np.int64)  # connected until
        self.charge_from = np.zeros((n, width), dtype=np.int64)
        self.charge_until = np.zeros((n, width), dtype=np.int64)
        self.power_kw = np.zeros((n, width))
        self.out_until = np.zeros(n, dtype=np.int64)
        self.status = np.full(n, "", dtype=object)
        weights = np.array(EV.arrival_weights)
        self.arrival_shape = weights / weights.mean()

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        n, width = self.leave_at.shape
        a, b = tick.start_ms, tick.end_ms
        # Out of service spells.
        breaks = gen.random(n) < EV.out_of_service_per_year * TICK_MS / (HOURS_PER_YEAR * HOUR_MS)
        repair_h = seeding.lognormal_from_median(EV.repair_median_h, 0.5, gen.standard_normal(n))
        fresh = breaks & (self.out_until <= a)
        self.out_until = np.where(fresh, a + (repair_h * HOUR_MS).astype(np.int64),
                                  self.out_until)
        down = self.out_until > a
        # Arrivals at free points of working stations.
        rate = (EV.arrivals_per_point_day / 24 * self.arrival_shape[int(tick.hour)]
                * (EV.weekend_factor if tick.weekend else 1.0) * TICK_S / 3600)
        free = self.exists & (self.leave_at <= a) & ~down[:, None]
        arrivals = gen.random((n, width)) < rate
        new = free & arrivals
        k = int(new.sum())
        if k:
            at = a + (gen.random(k) * TICK_MS).astype(np.int64)
            stay_h = seeding.lognormal_from_median(EV.duration_median_h, EV.duration_log_sd,
                                                   gen.standard_normal(k))
            energy = seeding.lognormal_from_median(EV.energy_median_kwh, EV.energy_log_sd,
                                                   gen.standard_normal(k))
            vehicle = np.array(EV.vehicle_power_kw)[gen.integers(0, len(EV.vehicle_power_kw),
                                                                  k)]
            power = np.minimum(vehicle, EV.point_power_kw)
            charge_h = np.minimum(energy / power, stay_h)
            self.leave_at[new] = at + (stay_h * HOUR_MS).astype(np.int64)
            self.charge_from[new] = at
            self.charge_until[new] = at + (charge_h * HOUR_MS).astype(np.int64)
            self.power_kw[new] = power
        # A station out of service stops charging.
        self.charge_until[down] = np.minimum(self.charge_until[down], a)
        overlap = np.maximum(np.minimum(self.charge_until, b) - np.maximum(self.charge_from, a), 0)
        energy_kwh = (self.power_kw * overlap / HOUR_MS).sum(axis=1)
        charging = (self.charge_from <= b) & (b < self.charge_until)
        power_now = (self.power_kw * charging).sum(axis=1)
        connected = self.exists & (self.leave_at > b)
        available = np.where(down, 0, self.points - connected.sum(axis=1))
        status = np.where(down, "outOfService",
                          np.where(charging.any(axis=1), "charging", "available"))
        out.number(STATION, "availableCapacity", self.gids, b, available, 0)
        out.number(STATION, "activePower", self.gids, b, power_now, 2)
        out.number(STATION, "energyConsumed", self.gids, b, energy_kwh, 3)
        changed = status != self.status
        out.state(STATION, "status", self.gids[changed], b, status[changed])
        self.status = status.astype(object)
