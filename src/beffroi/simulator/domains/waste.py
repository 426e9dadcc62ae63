"""Waste containers: fill at Edinburgh's rates and daily/weekly shape, emptied by rounds.

Each container gets a fill rate (log-normal over Edinburgh's sites), a round every few days
(Edinburgh's intervals between collections) at an hour drawn from Edinburgh's collection
hours. A missed round lets the bin overflow: the level stays at 1 and the status says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick, local_ms
from beffroi.simulator.domains.base import Conditions, Context, Domain
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import HOUR_MS, TICK_S, WASTE, SimAsset

NEVER = np.iinfo(np.int64).max
CONTAINER = "WasteContainer"
QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)


class WasteContainers(Domain):
    types = (CONTAINER,)
    key = "waste"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        data = WASTE.data
        self.rate_per_h = np.exp(
            data["rate_per_h_log_mean"] + data["rate_per_h_log_sd"] * self.normal("rate")
        )
        gap_h = np.interp(self.uniform("round"), QUANTILES, data["site_median_gap_h_quantiles"])
        self.period_days = np.maximum(1, np.rint(gap_h / 24)).astype(np.int64)
        self.phase = (self.uniform("phase") * self.period_days).astype(np.int64)
        weights = np.cumsum(data["collection_hour_weights"])
        hour = np.searchsorted(weights / weights[-1], self.uniform("hour"))
        self.round_hour = np.minimum(hour, 23) + self.uniform("minute")
        self.block_h: int = data["block_hours"]
        self.shape = {False: data["shape_weekday"], True: data["shape_weekend"]}
        self.fill = self.uniform("start") * WASTE.start_fill_max
        self.overflowing = np.zeros(len(self.gids), dtype=bool)
        self.day = -1
        self.collect_at = np.full(len(self.gids), NEVER, dtype=np.int64)

    def _plan_day(self, tick: Tick) -> None:
        self.day = tick.day
        midnight = local_ms(self.ctx.zone, tick.local_date, 0.0)
        due = (tick.day - self.phase) % self.period_days == 0
        missed = seeding.rng(self.ctx.seed, self.key, "missed", tick.day).random(len(due))
        due &= missed >= WASTE.missed_collection.value
        self.collect_at = np.where(
            due, midnight + (self.round_hour * HOUR_MS).astype(np.int64), NEVER
        )

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        if tick.day != self.day:
            self._plan_day(tick)
        gen = self.rng(tick)
        n = len(self.gids)
        shape = self.shape[tick.weekend][int(tick.hour) // self.block_h]
        sd = WASTE.fill_noise_log_sd
        noise = np.exp(gen.normal(-sd * sd / 2, sd, n))
        self.fill = self.fill + self.rate_per_h * shape * (TICK_S / 3600) * noise
        collected = (self.collect_at >= tick.start_ms) & (self.collect_at < tick.end_ms)
        if collected.any():
            self.fill[collected] = WASTE.collection_residual * gen.random(int(collected.sum()))
            back = collected & self.overflowing
            self.overflowing[collected] = False
            out.state(CONTAINER, "status", self.gids[back], self.collect_at[back], "ok")
        full = self.fill >= 1.0
        self.fill = np.minimum(self.fill, 1.0)
        new = full & ~self.overflowing
        self.overflowing |= full
        out.state(CONTAINER, "status", self.gids[new], tick.end_ms, "overflowing")
        out.number(CONTAINER, "fillingLevel", self.gids, tick.end_ms, self.fill, 3)
