"""What every domain generator shares: the run's context, the city's conditions, the base."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from zoneinfo import ZoneInfo

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import SimAsset


@dataclass(frozen=True, slots=True)
class Context:
    """The run: seed, the territory's zone and centre, and when the simulation starts."""

    seed: int
    zone: ZoneInfo
    lon: float
    lat: float
    start_ms: int


@dataclass(frozen=True, slots=True)
class Conditions:
    """City-wide state during one tick, shared by every domain (see ``environment.City``)."""

    temperature_c: float
    precipitation_mm: float  # fallen during the tick
    wind_ms: float
    snow_cm: float
    traffic_factor: float  # road traffic relative to its yearly mean
    air_episode: bool

    @property
    def raining(self) -> bool:
        return self.precipitation_mm > 0


class Domain(ABC):
    """A generator for the assets of some types."""

    types: ClassVar[tuple[str, ...]]
    key: ClassVar[str]

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        self.ctx = ctx
        self.gids = np.array([g for g, _a in assets], dtype=np.int64)
        self.assets = [a for _g, a in assets]
        self.urns = [a.urn for a in self.assets]

    def rng(self, tick: Tick, *more: int | str) -> np.random.Generator:
        return seeding.rng(self.ctx.seed, self.key, tick.index, *more)

    def uniform(self, salt: str) -> np.ndarray:
        return seeding.uniform(self.ctx.seed, f"{self.key}:{salt}", self.urns)

    def normal(self, salt: str) -> np.ndarray:
        return seeding.normal(self.ctx.seed, f"{self.key}:{salt}", self.urns)

    def prop(self, name: str, default: float) -> np.ndarray:
        """A numeric static property of each asset, or ``default`` where it is missing."""
        out = np.full(len(self.assets), default, dtype=np.float64)
        for i, a in enumerate(self.assets):
            v = a.properties.get(name)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[i] = float(v)
        return out

    @abstractmethod
    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        """Emit the readings of [tick.start_ms, tick.end_ms)."""


def every(tick: Tick, period_s: int) -> bool:
    """Whether a reading due every ``period_s`` falls at the end of this tick."""
    return tick.end_ms % (period_s * 1000) == 0


def ar1(previous: np.ndarray, persistence: float, sd: float,
        gen: np.random.Generator) -> np.ndarray:
    """One step of a stationary AR(1) process with marginal standard deviation ``sd``."""
    out: np.ndarray = persistence * previous + np.sqrt(1 - persistence**2) * sd * (
        gen.standard_normal(previous.shape)
    )
    return out
