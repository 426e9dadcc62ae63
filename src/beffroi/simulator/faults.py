"""Fault injection: silent devices, stuck sensors and out-of-range values, on purpose.

Which assets fail, and when, follows from the seed and the asset's URN; every injected fault
is recorded (``FaultPlan.injected``) so that a test or an operator can check that the rules
caught what was injected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.emit import Emission
from beffroi.simulator.models import VALID_RANGES, FaultSpec

NEVER = np.iinfo(np.int64).max
# How far outside its valid range an out-of-range value lands, as a share of the range.
OUT_OF_RANGE_SPAN = (0.5, 2.0)


@dataclass(frozen=True, slots=True)
class InjectedFault:
    asset: str
    kind: str  # "silent" | "stuck"
    onset_ms: int


class FaultPlan:
    def __init__(self, spec: FaultSpec, urns: list[str], seed: int, start_ms: int) -> None:
        self.spec = spec
        self.seed = seed
        n = len(urns)
        self.silent_from = np.full(n, NEVER, dtype=np.int64)
        self.stuck_from = np.full(n, NEVER, dtype=np.int64)
        self.injected: list[InjectedFault] = []
        self.out_of_range_count = 0
        self._stuck_numbers: dict[str, np.ndarray] = {}
        self._stuck_states: dict[str, np.ndarray] = {}
        window_ms = spec.onset_window_s * 1000
        for kind, share, target in (
            ("silent", spec.silent, self.silent_from),
            ("stuck", spec.stuck, self.stuck_from),
        ):
            if share <= 0:
                continue
            chosen = seeding.uniform(seed, f"fault:{kind}", urns) < share
            onset = start_ms + (seeding.uniform(seed, f"fault:{kind}:onset", urns)
                                * window_ms).astype(np.int64)
            target[chosen] = onset[chosen]
            self.injected.extend(
                InjectedFault(urns[i], kind, int(onset[i])) for i in np.flatnonzero(chosen)
            )

    def apply(self, emission: Emission, tick_index: int, salt: int) -> Emission | None:
        gids, ts = emission.gids, emission.ts
        if self.spec.silent > 0:
            keep = self.silent_from[gids] > ts
            if not keep.all():
                emission = emission.select(keep)
                gids, ts = emission.gids, emission.ts
        if len(gids) == 0:
            return None
        stuck = self.stuck_from[gids] <= ts
        if stuck.any():
            emission = self._stick(emission, stuck)
        if self.spec.out_of_range > 0 and emission.kind == "number":
            bounds = VALID_RANGES.get((emission.type, emission.metric))
            if bounds is not None:  # a stuck sensor keeps its one value
                emission = self._out_of_range(emission, bounds, ~stuck, tick_index, salt)
        return emission

    def _stick(self, emission: Emission, stuck: np.ndarray) -> Emission:
        n = len(self.silent_from)
        values = np.array(emission.values, copy=True)
        idx = np.flatnonzero(stuck)
        if emission.kind == "number":
            memory = self._stuck_numbers.setdefault(emission.metric, np.full(n, np.nan))
            for i in idx:  # few assets are stuck: a loop keeps "first value after onset" exact
                g = emission.gids[i]
                if np.isnan(memory[g]):
                    memory[g] = values[i]
                values[i] = memory[g]
        else:
            states = self._stuck_states.setdefault(
                emission.metric, np.full(n, None, dtype=object)
            )
            for i in idx:
                g = emission.gids[i]
                if states[g] is None:
                    states[g] = values[i]
                values[i] = states[g]
        return Emission(emission.type, emission.metric, emission.kind, emission.gids,
                        emission.ts, values, emission.decimals)

    def _out_of_range(self, emission: Emission, bounds: tuple[float, float],
                      eligible: np.ndarray, tick_index: int, salt: int) -> Emission:
        gen = seeding.rng(self.seed, "fault:out_of_range", tick_index, salt)
        hit = (gen.random(len(emission)) < self.spec.out_of_range) & eligible
        if not hit.any():
            return emission
        low, high = bounds
        span = high - low
        k = int(hit.sum())
        above = gen.random(k) < 0.5
        far = gen.uniform(*OUT_OF_RANGE_SPAN, size=k) * span
        values = np.array(emission.values, dtype=np.float64, copy=True)
        values[hit] = np.where(above, high + far, low - far)
        self.out_of_range_count += k
        return Emission(emission.type, emission.metric, emission.kind, emission.gids,
                        emission.ts, values, emission.decimals)
