"""Road traffic counters: hourly flow and occupancy from the Paris permanent counter's
weekday/weekend profiles and month factors, scaled per counter, with day-to-day and
hour-to-hour variation measured on the same counter, and occasional congestion incidents.
The traffic state follows the Paris thresholds on occupancy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick
from beffroi.simulator.domains.base import Conditions, Context, Domain, every
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import TRAFFIC, TRAFFIC_STATES, SimAsset

COUNTER = "TrafficFlowObserved"
MAX_OCCUPANCY_PCT = 100.0


class TrafficCounters(Domain):
    types = (COUNTER,)
    key = "traffic"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        data = TRAFFIC.data
        self.flow = {False: np.array(data["flow_weekday_veh_h"]),
                     True: np.array(data["flow_weekend_veh_h"])}
        self.occupancy = {False: np.array(data["occupancy_weekday_pct"]),
                          True: np.array(data["occupancy_weekend_pct"])}
        self.month_factor = data["month_factor"]
        self.day_sd: float = data["day_log_sd"]
        self.hour_sd: float = data["hour_log_sd"]
        self.thresholds = np.array(data["state_upper_occupancy_pct"], dtype=np.float64)
        self.scale = seeding.between(self.uniform("scale"), *TRAFFIC.counter_scale_range)
        self.occ_scale = np.sqrt(self.scale)  # narrower roads fill up with fewer vehicles
        self.day = -1
        self.day_factor = np.ones(len(self.gids))
        self.incident_until = np.zeros(len(self.gids), dtype=np.int64)
        self.state = np.full(len(self.gids), "", dtype=object)

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        if not every(tick, TRAFFIC.report_every_s):
            return
        n = len(self.gids)
        if tick.day != self.day:
            self.day = tick.day
            gen_day = seeding.rng(self.ctx.seed, self.key, "day", tick.day)
            sd = self.day_sd
            self.day_factor = np.exp(gen_day.normal(-sd * sd / 2, sd, n))
        gen = self.rng(tick)
        hour = int(tick.hour)  # the counted hour, stamped at its end
        start = tick.end_ms - 3_600_000
        lo, hi = TRAFFIC.incident_hours
        begins = gen.random(n) < TRAFFIC.incident_per_day.value / 24
        length = gen.integers(lo, hi + 1, n) * 3_600_000
        self.incident_until = np.where(begins & (self.incident_until <= start),
                                       start + length, self.incident_until)
        incident = self.incident_until > start
        sd = self.hour_sd
        noise = np.exp(gen.normal(-sd * sd / 2, sd, n))
        base = self.month_factor[tick.month - 1] * self.day_factor * noise
        flow = self.flow[tick.weekend][hour] * self.scale * base
        flow = np.where(incident, flow * TRAFFIC.incident_flow_factor, flow)
        occupancy = self.occupancy[tick.weekend][hour] * self.occ_scale * base
        occupancy = np.where(incident, occupancy * TRAFFIC.incident_occupancy_factor, occupancy)
        occupancy = np.minimum(occupancy, MAX_OCCUPANCY_PCT)
        state = np.array(TRAFFIC_STATES, dtype=object)[
            np.searchsorted(self.thresholds, occupancy, side="right")
        ]
        t = tick.end_ms
        out.number(COUNTER, "intensity", self.gids, t, np.rint(flow), 0)
        out.number(COUNTER, "occupancy", self.gids, t, occupancy, 2)
        changed = state != self.state
        out.state(COUNTER, "trafficState", self.gids[changed], t, state[changed])
        self.state = state
