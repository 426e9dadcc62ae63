"""The map's API: asset states, filters, clustering and the base map (both engines)."""

from __future__ import annotations

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Polygon, shape

from beffroi.api.deps import Services
from beffroi.auth.models import Role
from beffroi.web import mapdata
from beffroi.web.repository import AssetState, state_of
from tests.conftest import RoleClient
from tests.web.conftest import City, feed

MAP = "/api/v1/territories/testville/map"


def test_states_of_every_asset(client: TestClient, city: City) -> None:
    body = client.get(f"{MAP}/clusters", params={"zoom": 12}).json()
    assert body["total"] == len(city.lamps) + 2
    # 1 lamp with an open alarm, 5 defective, 5 off; 100 reported lately; the rest never did.
    assert body["states"] == {"ok": 100, "alarm": 1, "fault": 5, "silent": 11, "off": 5}
    assert body["kind"] == "points"  # few assets: one by one
    states = {f["properties"]["urn"]: f["properties"]["state"] for f in body["features"]}
    assert states[city.hot_lamp] == "alarm"
    assert states[city.lamps[100]] == "fault"
    assert states[city.lamps[105]] == "off"
    assert states[city.cabinet] == "silent"
    assert states[city.signal] == "ok"


def test_state_rule_order_and_silence() -> None:
    now = 10 * 86_400_000
    assert state_of("Streetlight", True, True, True, now, now) == "alarm"
    assert state_of("Streetlight", False, True, True, now, now) == "fault"
    assert state_of("Streetlight", False, False, True, now, now) == "off"
    assert state_of("Streetlight", False, False, False, None, now) == "silent"
    assert state_of("Streetlight", False, False, False, now - 3 * 3_600_000, now) == "ok"
    assert state_of("Streetlight", False, False, False, now - 3 * 3_600_000 - 1, now) == "silent"
    assert state_of("TrafficSignal", False, False, False, now - 16 * 60_000, now) == "silent"


def test_filters(client: TestClient, city: City) -> None:
    def total(**params: object) -> int:
        r = client.get(f"{MAP}/clusters", params={"zoom": 14, **params})
        assert r.status_code == 200, r.text
        return int(r.json()["total"])

    assert total(type="TrafficSignal") == 1
    assert total(domain="mobility") == 1
    assert total(post="lighting") == len(city.lamps) + 1
    assert total(state="alarm") == 1
    assert total(bbox="2.33,48.85,2.36,48.87") < len(city.lamps)
    inside = total(area="paris-arrondissements:0")  # Paris 1er
    assert 0 < inside < len(city.lamps)
    for params, field in (({"type": "Nope"}, "type"), ({"state": "bad"}, "state"),
                          ({"domain": "x"}, "domain"), ({"area": "nope:1"}, "area"),
                          ({"bbox": "1,2,3"}, "bbox"), ({"zoom": 30}, "zoom")):
        r = client.get(f"{MAP}/clusters", params=params)
        assert r.status_code == 422
        assert r.json()["details"][0]["field"] == field


def test_alarm_changes_the_state_at_once(client: TestClient, city: City,
                                         services: Services) -> None:
    client.get(f"{MAP}/clusters")  # fills the cache
    feed(services, [(city.lamps[10], "activePower", services.clock() - 1000, 150.0)])
    body = client.get(f"{MAP}/clusters", params={"state": "alarm"}).json()
    assert body["total"] == 2


def test_clusters_at_low_zoom(monkeypatch: pytest.MonkeyPatch, client: TestClient,
                          city: City) -> None:
    monkeypatch.setattr(mapdata, "MAX_POINTS", 10)
    body = client.get(f"{MAP}/clusters", params={"zoom": 11}).json()
    assert body["kind"] == "clusters"
    assert 1 < len(body["features"]) < 60
    props = [f["properties"] for f in body["features"]]
    assert sum(p["count"] for p in props) == len(city.lamps) + 2
    for p in props:
        assert p["count"] == sum(p[s] for s in ("ok", "alarm", "fault", "silent", "off"))
    hot = [p for p in props if p["alarm"]]
    assert len(hot) == 1 and hot[0]["state"] == "alarm"
    # From zoom 16 on, assets one by one whatever their number.
    body = client.get(f"{MAP}/clusters", params={"zoom": 16}).json()
    assert body["kind"] == "points"


def test_base_map_shipped_or_derived(client: TestClient, city: City, services: Services
                                     ) -> None:
    body = client.get(f"{MAP}/basemap").json()
    assert body["source"] == "paris-arrondissements"
    assert len(body["features"]) == 20
    first = body["features"][0]["properties"]
    assert {k: first[k] for k in ("id", "name")} == {"id": "paris-arrondissements:0",
                                                     "name": "Paris 1er"}
    # Each district has a label point inside it (where the map writes its name).
    for feature in body["features"]:
        lon, lat = feature["properties"]["label"]
        assert shapely.contains_xy(shape(feature["geometry"]), lon, lat)
    # A territory elsewhere (Nantes) gets its footprint: cells of about 1 km holding assets.
    rows = [AssetState(i, f"u{i}", None, "Streetlight", "lighting", "lighting",
                       -1.55 + (i % 3) * 0.005, 47.21, "ok") for i in range(6)]
    rows.append(AssetState(9, "far", None, "Streetlight", "lighting", None, -1.40, 47.30,
                           "ok"))
    snap = mapdata.build_snapshot(rows)
    body = mapdata.BaseMaps(None).for_extent(mapdata.extent(snap), snap)
    assert body["source"] == "footprint"
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"  # two separate areas
    assert mapdata.footprint(mapdata.build_snapshot([]))["features"] == []


def test_map_api_access(as_role: RoleClient, city: City) -> None:
    for role in (Role.VIEWER, Role.FIELD_AGENT, Role.OPERATOR, Role.SUPERVISOR):
        assert as_role(role).get(f"{MAP}/clusters").status_code == 200
        assert as_role(role).get(f"{MAP}/basemap").status_code == 200
    assert as_role(Role.DEVICE).get(f"{MAP}/clusters").status_code == 403


def test_snapshot_cache(city: City, services: Services) -> None:
    tid = services.registry.territory_id(city.code)
    cache = mapdata.MapCache(services.store, services.clock, ttl_s=3600)
    cache.warm(tid)  # in the background
    cache.close()  # waits for it
    first = cache.get(tid)
    assert cache.get(tid) is first  # fresh: reused
    feed(services, [(city.lamps[11], "activePower", services.clock() - 1000, 150.0)])
    assert cache.get(tid) is first  # not told: still the old one
    cache.invalidate(tid)
    second = cache.get(tid)  # told: rebuilt at once
    assert second is not first
    assert int((second.state == mapdata.STATE_CODES["alarm"]).sum()) == 2
    assert second.lon is first.lon  # the asset rows were reused (none created or deleted)
    assert mapdata.state_of_urn(second, city.lamps[11]) == "alarm"
    assert mapdata.state_of_urn(second, "urn:nope") is None
    # Stale after the TTL: served at once while a background thread rebuilds it.
    cache = mapdata.MapCache(services.store, services.clock, ttl_s=0)
    stale = cache.get(tid)
    fresh = cache.get(tid)
    assert fresh is not stale  # a small territory: rebuilt in the request
    cache.background_min_assets = 0
    assert cache.get(tid) is fresh  # a large one: the stale one at once, rebuilt meanwhile
    cache.close()  # waits for the background rebuild
    assert cache.get(tid) is not fresh


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _messages(data: bytes) -> list[tuple[int, int | bytes]]:
    """The fields of one protobuf message: (field number, varint or bytes)."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        if key & 7 == 0:
            value, at = _varint(data, at)
            out.append((key >> 3, value))
        else:
            size, at = _varint(data, at)
            out.append((key >> 3, data[at:at + size]))
            at += size
    return out


def test_glyphs_for_labels(client: TestClient) -> None:
    """The map's labels are drawn with glyph PBFs served locally (no font server): the ranges
    hold the characters of district names and of counts formatted in French, each bitmap the
    size MapLibre expects ((width + 6) × (height + 6), none for a space)."""
    needed = {0: set("Paris 1er 20e 0123456789"), 8192: {"\u202f"}}
    for start, chars in needed.items():
        r = client.get(f"/static/vendor/glyphs/DejaVuSans-Bold/{start}-{start + 255}.pbf")
        assert r.status_code == 200
        [(number, stack)] = _messages(r.content)
        assert number == 1 and isinstance(stack, bytes)
        fields = _messages(stack)
        assert (1, b"DejaVuSans-Bold") in fields
        assert (2, f"{start}-{start + 255}".encode()) in fields
        glyphs = {}
        for number, raw in fields:
            if number == 3:
                assert isinstance(raw, bytes)
                g = dict(_messages(raw))
                glyphs[chr(int(g[1]))] = g  # type: ignore[arg-type]
        assert chars <= set(glyphs)
        for char, g in glyphs.items():
            assert 0 <= int(g[7]) <= 48  # advance: up to an em quad (2 × 24 px), 0 if zero-width
            if char in chars:
                assert int(g[7]) > 0
            w, h = int(g[3]), int(g[4])  # type: ignore[call-overload]
            if w:
                assert len(g[2]) == (w + 6) * (h + 6)  # type: ignore[arg-type]
            else:
                assert 2 not in g


def test_label_point_of_a_concave_district() -> None:
    # A U shape: its centroid is outside; the label point is inside, in one of the arms.
    u = Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)])
    assert not u.contains(u.centroid)
    lon, lat = mapdata.label_point(u)
    assert u.contains(shapely.Point(lon, lat))


def test_map_page_does_not_wait_for_the_snapshot(client: TestClient, city: City,
                                                 services: Services) -> None:
    """The page needs the extent of the assets only: it is read with one aggregate query
    (the snapshot builds in the background), and equals the snapshot's."""
    tid = services.registry.territory_id(city.code)
    cache = mapdata.MapCache(services.store, services.clock)
    try:
        ext = cache.extent(tid)
        cache.wait()  # for the snapshot the call started in the background
        snap = cache.current(tid)
        assert ext == pytest.approx(mapdata.extent(snap))
        assert cache.extent(tid) == mapdata.extent(snap)
    finally:
        cache.close()
    empty = mapdata.MapCache(services.store, services.clock)
    assert empty.extent(-1) is None
    empty.close()


def test_large_territories_warmed_at_start(city: City, services: Services) -> None:
    tid = services.registry.territory_id(city.code)
    cache = mapdata.MapCache(services.store, services.clock)
    cache.background_min_assets = 10**6
    cache.warm_large()
    cache.wait()
    assert tid not in cache._snaps  # a small territory: left to its first request
    cache = mapdata.MapCache(services.store, services.clock)
    cache.background_min_assets = 10
    cache.warm_large()
    cache.wait()
    assert tid in cache._snaps
    assert cache.current(tid) is cache._snaps[tid]  # served as it is: no refresh
    cache.close()
