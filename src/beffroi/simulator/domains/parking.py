"""Parking: car parks follow weekday, Saturday and Sunday occupancy curves; on-street spots
alternate occupied and free spells whose lengths keep the same curve on average."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick, interpolate_hourly
from beffroi.simulator.domains.base import Conditions, Context, Domain, ar1
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import PARKING, TICK_MS, TICK_S, SimAsset

CAR_PARK = "OffStreetParking"
SPOT = "ParkingSpot"
DEFAULT_SPOTS = 300
SATURDAY, SUNDAY = 5, 6
MAX_SPOT_OCCUPANCY = 0.97


def curve(tick: Tick) -> float:
    profile = (PARKING.saturday if tick.weekday == SATURDAY
               else PARKING.sunday if tick.weekday == SUNDAY else PARKING.weekday)
    return interpolate_hourly(profile, tick.hour)


class CarParks(Domain):
    types = (CAR_PARK,)
    key = "carpark"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        self.spots = np.maximum(1, self.prop("total_spots", DEFAULT_SPOTS)).astype(np.int64)
        self.peak = seeding.between(self.uniform("peak"), *PARKING.peak_factor_range)
        self.noise = np.zeros(len(self.gids))
        self.status = np.full(len(self.gids), "", dtype=object)

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        self.noise = ar1(self.noise, PARKING.noise_persistence, PARKING.noise_sd, self.rng(tick))
        share = np.clip(curve(tick) * self.peak + self.noise, 0.0, 1.0)
        occupied = np.rint(share * self.spots).astype(np.int64)
        free = self.spots - occupied
        t = tick.end_ms
        out.number(CAR_PARK, "occupiedSpotNumber", self.gids, t, occupied, 0)
        out.number(CAR_PARK, "availableSpotNumber", self.gids, t, free, 0)
        out.number(CAR_PARK, "occupancy", self.gids, t, occupied / self.spots, 3)
        status = np.where(free < PARKING.full_margin_spots, "full", "open")
        changed = status != self.status
        out.state(CAR_PARK, "status", self.gids[changed], t, status[changed])
        self.status = status.astype(object)


class ParkingSpots(Domain):
    types = (SPOT,)
    key = "spot"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        self.factor = seeding.between(self.uniform("factor"), 0.8, 1.1)
        self.occupied: np.ndarray | None = None

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        p = np.clip(curve(tick) * self.factor, 0.02, MAX_SPOT_OCCUPANCY)
        if self.occupied is None:
            self.occupied = gen.random(len(p)) < p
            out.state(SPOT, "status", self.gids, tick.start_ms,
                      np.where(self.occupied, "occupied", "free"))
        stay_h = PARKING.spot_mean_stay_h.value
        free_h = stay_h * (1 - p) / p
        dt_h = TICK_S / 3600
        leave = 1 - np.exp(-dt_h / stay_h)
        arrive = 1 - np.exp(-dt_h / free_h)
        u = gen.random(len(p))
        flip = np.where(self.occupied, u < leave, u < arrive)
        if flip.any():
            self.occupied = self.occupied ^ flip
            at = tick.start_ms + (gen.random(int(flip.sum())) * TICK_MS).astype(np.int64)
            out.state(SPOT, "status", self.gids[flip], at,
                      np.where(self.occupied[flip], "occupied", "free"))
