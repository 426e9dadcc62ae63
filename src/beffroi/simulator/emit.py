"""Readings as the generators produce them: columns per (asset type, metric), not dicts.

Generators work on arrays (one value per asset of a domain); the engine applies faults to the
columns and only then turns them into the reading dicts the ingest path takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Kind = Literal["number", "state"]


@dataclass(slots=True)
class Emission:
    """Readings of one metric of one asset type: asset ids, times (ms) and values."""

    type: str
    metric: str
    kind: Kind
    gids: np.ndarray  # int64, global asset indices (Simulator.assets)
    ts: np.ndarray  # int64 epoch ms
    values: np.ndarray  # float64 for numbers, object (str) for states
    decimals: int = 3

    def __len__(self) -> int:
        return len(self.gids)

    def select(self, mask: np.ndarray) -> Emission:
        return Emission(self.type, self.metric, self.kind, self.gids[mask], self.ts[mask],
                        self.values[mask], self.decimals)


class Emitter:
    """Collects the emissions of one tick."""

    def __init__(self) -> None:
        self.emissions: list[Emission] = []

    def number(self, type_name: str, metric: str, gids: np.ndarray, ts: Any, values: Any,
               decimals: int = 3) -> None:
        if len(gids) == 0:
            return
        n = len(gids)
        self.emissions.append(Emission(
            type_name, metric, "number", np.asarray(gids, dtype=np.int64), _column(ts, n, np.int64),
            _column(values, n, np.float64), decimals,
        ))

    def state(self, type_name: str, metric: str, gids: np.ndarray, ts: Any, values: Any) -> None:
        if len(gids) == 0:
            return
        vals = np.empty(len(gids), dtype=object)
        vals[:] = values
        self.emissions.append(Emission(
            type_name, metric, "state", np.asarray(gids, dtype=np.int64),
            _column(ts, len(gids), np.int64), vals,
        ))


def _column(value: Any, n: int, dtype: Any) -> np.ndarray:
    if np.ndim(value) == 0:
        return np.full(n, value, dtype=dtype)
    return np.asarray(value, dtype=dtype)


def to_readings(emission: Emission, urns: list[str]) -> list[dict[str, Any]]:
    """The reading dicts of the ingest path (``{"asset", "metric", "ts", "value"}``)."""
    metric = emission.metric
    values = emission.values
    if emission.kind == "number":
        values = np.round(values.astype(np.float64), emission.decimals)
    return [
        {"asset": urns[g], "metric": metric, "ts": t, "value": v}
        for g, t, v in zip(emission.gids.tolist(), emission.ts.tolist(), values.tolist(),
                           strict=True)
    ]
