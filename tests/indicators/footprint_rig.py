"""Helpers shared by the footprint, retention and platform tests."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text

from beffroi.api.deps import Services
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.errors import NotFound
from beffroi.indicators.footprint_service import Footprint
from beffroi.ingest.service import Message

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z (01:00 in Paris)
MIN = 60_000
H = 3_600_000
DAY = 86_400_000


class Rig:
    def __init__(self, services: Services, code: str = "testville") -> None:
        self.services = services
        self.code = code
        try:
            services.registry.territory_id(code)
        except NotFound:  # the indicators conftest creates testville; others are made here
            services.registry.create_territory(
                TerritoryIn(code=code, name=code.title(), timezone="Europe/Paris"))
        self.footprint = Footprint(services.store, services.registry, services.audit,
                                   services.clock)

    @property
    def tid(self) -> int:
        return self.services.registry.territory_id(self.code)

    def asset(self, type_name: str, local: str, created_ms: int = T0 - DAY, **extra: Any
              ) -> str:
        urn = f"urn:ngsi-ld:{type_name}:{self.code}:{local}"
        self.services.registry.create_asset(self.code, AssetIn(
            id=urn, type=type_name, geometry={"type": "Point", "coordinates": [2.35, 48.85]},
            **extra))
        with self.services.store.write() as conn:
            conn.execute(text("UPDATE assets SET created_ms = :c WHERE urn = :u"),
                         {"c": created_ms, "u": urn})
        return urn

    def feed(self, urn: str, metric: str, times: list[int], value: float = 1.0) -> None:
        for i in range(0, len(times), 500):
            body = orjson.dumps({"readings": [
                {"asset": urn, "metric": metric, "ts": ts, "value": value}
                for ts in times[i: i + 500]]})
            [outcome] = self.services.pipeline.process([Message(self.code, "readings", body)])
            assert outcome.error is None and not outcome.rejected, outcome.to_dict()

    def raw_count(self, urn: str) -> int:
        with self.services.store.read() as conn:
            return int(conn.execute(text(
                "SELECT count(*) FROM observations o JOIN series s ON s.id = o.series_id "
                "JOIN assets a ON a.id = s.asset_id WHERE a.urn = :u"), {"u": urn}).scalar_one())

    def rollup_n(self, urn: str) -> int:
        with self.services.store.read() as conn:
            return int(conn.execute(text(
                "SELECT coalesce(sum(r.n), 0) FROM rollup_hour r JOIN series s "
                "ON s.id = r.series_id JOIN assets a ON a.id = s.asset_id WHERE a.urn = :u"),
                {"u": urn}).scalar_one())


def every(start: int, step: int, count: int) -> list[int]:
    return [start + i * step for i in range(count)]
