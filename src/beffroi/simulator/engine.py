"""The simulated city: every domain generator over the assets of a territory, tick by tick.

``Simulator.step()`` produces the readings of one tick (``TICK_S`` seconds) as dicts for the
ingest path, after fault injection. Backfill and live streaming both call it, so a tick's
readings are the same whichever driver asks for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from beffroi.simulator.clock import first_tick, tick_at
from beffroi.simulator.domains import DOMAINS, SIMULATED_TYPES, Context, Domain
from beffroi.simulator.domains.environment import City
from beffroi.simulator.emit import Emission, Emitter, to_readings
from beffroi.simulator.faults import FaultPlan
from beffroi.simulator.models import TICK_MS, FaultSpec, SimAsset

Reading = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Territory:
    """What the simulator needs of a territory: its code, zone and centre (lon, lat)."""

    code: str
    timezone: str
    lon: float
    lat: float


class Simulator:
    """Generates the readings of a territory's assets from ``start_ms`` on, one tick at a time."""

    def __init__(self, territory: Territory, assets: Sequence[SimAsset], *, seed: int,
                 start_ms: int, faults: FaultSpec | None = None) -> None:
        self.territory = territory
        self.seed = seed
        self.zone = ZoneInfo(territory.timezone)
        self.assets = sorted((a for a in assets if a.type in SIMULATED_TYPES),
                             key=lambda a: a.urn)
        self.urns = [a.urn for a in self.assets]
        self.next_tick = first_tick(start_ms)
        self.start_ms = self.next_tick * TICK_MS
        ctx = Context(seed, self.zone, territory.lon, territory.lat, self.start_ms)
        self.city = City(ctx)
        self.domains: list[Domain] = []
        for cls in DOMAINS:
            mine = [(g, a) for g, a in enumerate(self.assets) if a.type in cls.types]
            if mine:
                self.domains.append(cls(ctx, mine))
        self.faults = FaultPlan(faults or FaultSpec(), self.urns, seed, self.start_ms)
        self.counts: Counter[str] = Counter()

    @property
    def now_ms(self) -> int:
        """Start of the next tick to generate (everything before it has been generated)."""
        return self.next_tick * TICK_MS

    def step_emissions(self) -> list[Emission]:
        tick = tick_at(self.next_tick, self.zone)
        self.next_tick += 1
        cond = self.city.conditions(tick)
        out = Emitter()
        for domain in self.domains:
            domain.step(tick, cond, out)
        if not self.faults.spec.any:
            return out.emissions
        kept: list[Emission] = []
        for i, emission in enumerate(out.emissions):
            faulty = self.faults.apply(emission, tick.index, i)
            if faulty is not None and len(faulty):
                kept.append(faulty)
        return kept

    def step(self) -> list[Reading]:
        """The readings of the next tick [now_ms, now_ms + TICK_MS)."""
        readings: list[Reading] = []
        for emission in self.step_emissions():
            readings.extend(to_readings(emission, self.urns))
            self.counts[emission.type] += len(emission)
        return readings

    def run(self, until_ms: int) -> list[Reading]:
        """Every reading of the ticks that start before ``until_ms``."""
        out: list[Reading] = []
        while self.now_ms < until_ms:
            out.extend(self.step())
        return out
