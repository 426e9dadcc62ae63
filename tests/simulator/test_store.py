"""The simulator against a real store (SQLite, or PostgreSQL with --dburl): placement,
inventory, backfill through the ingest pipeline, and ``beffroi simulate``."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from beffroi.api.deps import Services
from beffroi.assets import repository as repo
from beffroi.assets.models import AssetIn, TerritoryIn
from beffroi.cli import app
from beffroi.simulator import drivers, inventory, placement
from beffroi.simulator.engine import Simulator
from beffroi.simulator.models import PlacementPlan
from tests.simulator.helpers import ms

SMALL = PlacementPlan(waste_containers=5, car_parks=2, parking_spots=5, traffic_counters=3,
                      air_stations=2, weather_stations=1, water_stations=2, buildings=3,
                      ev_stations=3)


def _territory(services: Services) -> str:
    services.registry.create_territory(TerritoryIn(
        code="simville", name="Simville", timezone="Europe/Paris", center=(-1.5536, 47.2184)))
    for c in range(2):
        cab = f"urn:ngsi-ld:StreetlightControlCabinet:simville:C{c}"
        services.registry.create_asset("simville", AssetIn(
            id=cab, type="StreetlightControlCabinet",
            geometry={"type": "Point", "coordinates": [-1.55 + 0.01 * c, 47.21]}))
        for k in range(3):
            services.registry.create_asset("simville", AssetIn(
                id=f"urn:ngsi-ld:Streetlight:simville:C{c}-{k}", type="Streetlight",
                geometry={"type": "Point", "coordinates": [-1.55 + 0.01 * c, 47.21 + 0.001 * k]},
                parent=cab, properties={"lamp_type": "LED", "power_w": 30} if k == 0 else {}))
    assert placement.place(services, "simville", 42, SMALL) == 26
    return "simville"


def test_placed_assets_sit_near_the_lamps_and_say_they_are_simulated(
        services: Services) -> None:
    code = _territory(services)
    tid = services.registry.territory_id(code)
    with services.store.read() as conn:
        rows = repo.assets_in_box(conn, tid, repo.AssetFilter())
    placed = [r for r in rows if r.properties.get("simulated")]
    assert len(placed) == 26
    for r in placed:
        assert -1.56 < r.lon < -1.53 and 47.20 < r.lat < 47.22
    parks = [r for r in placed if r.type == "OffStreetParking"]
    assert all(150 <= r.properties["total_spots"] <= 900 for r in parks)
    assert placement.place(services, code, 42, SMALL) == 0  # placing again changes nothing


def test_backfill_through_the_ingest_pipeline_is_fully_accepted(services: Services) -> None:
    code = _territory(services)
    territory, assets = inventory.load(services, code)
    assert territory.lon == -1.5536 and len(assets) == 8 + 26
    assert {a.parent for a in assets if a.type == "Streetlight"} == {
        "urn:ngsi-ld:StreetlightControlCabinet:simville:C0",
        "urn:ngsi-ld:StreetlightControlCabinet:simville:C1"}
    sim = Simulator(territory, assets, seed=1, start_ms=ms("2024-10-01T00:00"))
    sink = drivers.telemetry_sink(services.telemetry, code)
    report = drivers.backfill(sim, sink, sim.now_ms + 86_400_000)
    assert report.readings > 5000
    assert report.rejected == 0 and report.stored == report.readings
    again = drivers.backfill(
        Simulator(territory, assets, seed=1, start_ms=ms("2024-10-01T00:00")), sink,
        sim.now_ms)
    assert again.stored == 0, "a replayed backfill is idempotent"
    services.telemetry.materialise()
    body: dict[str, Any] = services.telemetry.latest(
        code, None, repo.AssetFilter(type="WasteContainer"), None, 100)
    assert all("fillingLevel" in item["values"] for item in body["items"])
    history = services.telemetry.history(
        code, "urn:ngsi-ld:WeatherObserved:simville:sim-0001", "temperature", "hour",
        ms("2024-10-01T00:00"), ms("2024-10-02T00:00"), 100)
    # Readings are stamped at the end of their tick: the first hour holds five of them.
    assert [p["count"] for p in history["points"]] == [5] + [6] * 23


def test_simulate_command_backfills_with_faults(services: Services) -> None:
    code = _territory(services)
    url = services.settings.database_url
    result = CliRunner().invoke(app, [
        "--database-url", url, "simulate", "--territory", code, "--backfill", "12h",
        "--until", "2024-10-01T12:00:00+02:00", "--seed", "5",
        "--faults", "silent=0.2,out_of_range=0.01",
    ])
    assert result.exit_code == 0, result.output
    assert "readings" in result.output and "0 rejected" in result.output
    assert "fault silent" in result.output
    bad = CliRunner().invoke(app, ["--database-url", url, "simulate", "-t", code,
                                   "--backfill", "12", "--no-live"])
    assert bad.exit_code != 0


def _stored(services: Services) -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    with services.store.read() as conn:
        obs = conn.execute(text(
            "SELECT a.urn, s.metric, o.ts_ms, o.value, o.text FROM observations o "
            "JOIN series s ON s.id = o.series_id JOIN assets a ON a.id = s.asset_id "
            "ORDER BY a.urn, s.metric, o.ts_ms")).all()
        latest = conn.execute(text(
            "SELECT a.urn, s.metric, l.ts_ms, l.value, l.text FROM latest l "
            "JOIN series s ON s.id = l.series_id JOIN assets a ON a.id = s.asset_id "
            "ORDER BY a.urn, s.metric")).all()
    return [tuple(r) for r in obs] + [("latest", *tuple(r)) for r in latest]


def test_direct_backfill_stores_exactly_what_the_ingest_pipeline_stores(
        services: Services, settings: Any) -> None:
    """`beffroi simulate --backfill` and the demo write straight to the store; the result must
    be the ingest path's, reading for reading, faults included; and a replay changes nothing."""
    from beffroi.app import build_services
    from beffroi.simulator.models import FaultSpec

    code = _territory(services)
    territory, assets = inventory.load(services, code)
    faults = FaultSpec.parse("silent=0.1,stuck=0.1,out_of_range=0.01")
    start = ms("2024-12-01T00:00")

    def simulator() -> Simulator:
        return Simulator(territory, assets, seed=3, start_ms=start, faults=faults)

    sim = simulator()
    direct = drivers.backfill_store(sim, drivers.StoreSink(services.telemetry, code, sim.urns),
                                    start + 86_400_000, batch=1000)
    assert direct.rejected == 0 and direct.stored == direct.readings > 5000
    via_direct = _stored(services)
    replay = drivers.backfill_store(simulator(), drivers.StoreSink(
        services.telemetry, code, sim.urns), start + 86_400_000)
    assert replay.stored == 0 and _stored(services) == via_direct

    # The same city on the ingest path, in a store emptied of readings.
    from sqlalchemy import text

    with services.store.write() as conn:
        for table in ("observations", "latest", "rollup_dirty", "series"):
            conn.execute(text(f"DELETE FROM {table}"))
    fresh = build_services(settings)  # no series cached
    try:
        report = drivers.backfill(simulator(), drivers.telemetry_sink(fresh.telemetry, code),
                                  start + 86_400_000)
        assert report.stored == direct.stored
        assert _stored(fresh) == via_direct
    finally:
        fresh.store.dispose()
