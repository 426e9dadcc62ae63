"""Drinking-water quality stations: pH, turbidity, free chlorine and conductivity around
station-specific means within the regulatory references, with rare contamination events
(turbidity and conductivity up, chlorine consumed, pH down) lasting a few hours."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick
from beffroi.simulator.domains.base import Conditions, Context, Domain, ar1
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import HOUR_MS, TICK_MS, WATER, SimAsset

STATION = "WaterQualityObserved"
YEAR_MS = 365.25 * 24 * HOUR_MS


class WaterStations(Domain):
    types = (STATION,)
    key = "water"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        n = len(self.gids)
        self.chlorine = seeding.between(self.uniform("chlorine"), *WATER.chlorine_mean_mg_l)
        self.conductivity = seeding.between(self.uniform("conductivity"),
                                            *WATER.conductivity_mean_us_cm)
        self.noise = np.zeros((4, n))
        self.contaminated_until = np.zeros(n, dtype=np.int64)

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        n = len(self.gids)
        self.noise = ar1(self.noise, WATER.noise_persistence, 1.0, gen)
        starts = gen.random(n) < WATER.contamination_per_year.value * TICK_MS / YEAR_MS
        hours = seeding.lognormal_from_median(WATER.contamination_median_h,
                                              WATER.contamination_log_sd, gen.standard_normal(n))
        fresh = starts & (self.contaminated_until <= tick.start_ms)
        self.contaminated_until = np.where(
            fresh, tick.start_ms + (hours * HOUR_MS).astype(np.int64), self.contaminated_until
        )
        bad = self.contaminated_until > tick.end_ms - 1
        ph = WATER.ph_mean + WATER.ph_sd * self.noise[0] + bad * WATER.contamination_ph_shift
        turbidity = WATER.turbidity_median_ntu * np.exp(WATER.turbidity_log_sd * self.noise[1])
        turbidity = np.where(bad, turbidity * WATER.contamination_turbidity_factor, turbidity)
        chlorine = np.maximum(0.0, self.chlorine + WATER.chlorine_sd_mg_l * self.noise[2])
        chlorine = np.where(bad, chlorine * WATER.contamination_chlorine_factor, chlorine)
        conductivity = self.conductivity + WATER.conductivity_sd_us_cm * self.noise[3]
        conductivity = np.where(bad, conductivity * WATER.contamination_conductivity_factor,
                                conductivity)
        t = tick.end_ms
        out.number(STATION, "pH", self.gids, t, ph, 2)
        out.number(STATION, "turbidity", self.gids, t, turbidity, 3)
        out.number(STATION, "freeChlorine", self.gids, t, chlorine, 3)
        out.number(STATION, "conductivity", self.gids, t, conductivity, 0)
