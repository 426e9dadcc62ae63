"""The footprint model: factors file, overrides, and an estimate computed by hand."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from beffroi.api.deps import Services
from beffroi.errors import NotFound, ValidationFailed
from beffroi.indicators import footprint as fp
from beffroi.indicators.tables import platform_samples
from tests.indicators.footprint_rig import DAY, MIN, T0, H, Rig, every

OVERRIDES = {
    "electricity.kgco2e_per_kwh": 0.1,
    "device.Streetlight.operating_w": 2,
    "device.Streetlight.embodied_kgco2e": 10,
    "device.Streetlight.embodied_kwh": 20,
    "device.Streetlight.lifetime_years": 1,
    "device.AirQualityObserved.operating_w": 5,
    "device.AirQualityObserved.embodied_kgco2e": 8766,
    "device.AirQualityObserved.embodied_kwh": 876.6,
    "device.AirQualityObserved.lifetime_years": 10,
    "network.lorawan.wh_per_message": 0.01,
    "network.4g.wh_per_message": 0.02,
    "network.nbiot.wh_per_message": 0.5,
    "storage.wh_per_gb_month": 1000,
    "storage.replicas": 1,
    "server.pue": 1,
    "server.w_per_busy_core": 36,
}


@pytest.fixture
def rig(services: Services) -> Rig:
    return Rig(services)


def _override_all(rig: Rig) -> None:
    for key, value in OVERRIDES.items():
        rig.footprint.set_factor(rig.code, key, value, "test", "tests")


def _setup(rig: Rig) -> dict[str, str]:
    lamps = [rig.asset("Streetlight", f"L{i}") for i in range(3)]
    # One lamp declares its own network (NB-IoT), overriding the type's default (LoRaWAN).
    nb = rig.asset("Streetlight", "NB", properties={"network": "nbiot"})
    late = rig.asset("Streetlight", "LATE", created_ms=T0 + 4 * H)  # half of the window
    rig.asset("Streetlight", "FUTURE", created_ms=T0 + 20 * H)  # after the window
    air = rig.asset("AirQualityObserved", "A1")
    for urn in lamps:
        rig.feed(urn, "activePower", every(T0, 10 * MIN, 36))  # 36 readings in 6 h
    rig.feed(nb, "activePower", every(T0, H, 5))
    rig.feed(air, "no2", every(T0, 30 * MIN, 12), 20.0)
    return {"late": late, "air": air}


def test_estimate_by_hand(rig: Rig, services: Services) -> None:
    _setup(rig)
    other = Rig(services, "otherville")
    o = other.asset("Streetlight", "O1")
    other.feed(o, "activePower", every(T0, 15 * MIN, 40))
    services.telemetry.materialise(T0 + 7 * H)  # hours up to T0+6h in the rollups
    with services.store.write() as conn:
        conn.execute(platform_samples.insert(), [
            {"ts_ms": T0 + 1 * H, "process": "api", "cpu_s": 100.0, "interval_s": 60.0,
             "readings": 0},
            {"ts_ms": T0 + 2 * H, "process": "worker", "cpu_s": 200.0, "interval_s": 60.0,
             "readings": 0},
            {"ts_ms": T0 + 11 * H, "process": "api", "cpu_s": 999.0, "interval_s": 60.0,
             "readings": 0},
        ])
    _override_all(rig)
    start, end = T0, T0 + 10 * H
    est = rig.footprint.estimate(rig.code, start, end)
    ci = 0.1
    lines = {(ln.domain, ln.component): ln for ln in est.lines}

    # Devices: 4 lamps × 10 h + 1 lamp × 6 h (created at T0+4h); the air station 10 h.
    op = lines[("lighting", "devices_operating")]
    assert op.inputs["devices"] == {"Streetlight": 5}
    assert op.inputs["device_hours"] == {"Streetlight": 46.0}
    assert op.kwh == pytest.approx(2 * 46 / 1000)
    assert op.kgco2e == pytest.approx(2 * 46 / 1000 * ci)
    env = lines[("environment", "devices_operating")]
    assert env.kwh == pytest.approx(5 * 10 / 1000)
    emb = lines[("lighting", "devices_embodied")]
    assert emb.kgco2e == pytest.approx(10 * 46 / 8766)
    assert emb.kwh == pytest.approx(20 * 46 / 8766)
    emb_env = lines[("environment", "devices_embodied")]
    assert emb_env.kgco2e == pytest.approx(8766 * 10 / (10 * 8766))  # 1 kg
    assert emb_env.kwh == pytest.approx(0.1)

    # Network: 108 LoRaWAN + 5 NB-IoT readings; 12 on 4G.
    net = lines[("lighting", "network")]
    assert net.inputs["messages"] == {"lorawan": 108, "nbiot": 5}
    assert net.kwh == pytest.approx((108 * 0.01 + 5 * 0.5) / 1000)
    assert net.kgco2e == pytest.approx(net.kwh * ci)
    net_env = lines[("environment", "network")]
    assert net_env.inputs["messages"] == {"4g": 12}
    assert net_env.kwh == pytest.approx(12 * 0.02 / 1000)

    # Compute: 300 CPU s in the window × 36 W / 3600 = 3 Wh, × 125 of 165 readings.
    comp = lines[("platform", "compute")]
    assert comp.inputs["cpu_seconds"] == 300.0
    assert comp.inputs["share"] == pytest.approx(125 / 165)
    assert comp.kwh == pytest.approx(3 / 1000 * 125 / 165)
    assert comp.kgco2e == pytest.approx(comp.kwh * ci)

    # Storage: the measured bytes, by share of the installation's readings.
    with services.store.read() as conn:
        sizes = fp.measure_storage(conn, services.store.is_sqlite)
    assert sizes["observations"] > 0 and sizes["assets"] > 0
    ts_bytes = sum(sizes.get(t, 0) for t in fp.TIMESERIES_TABLES)
    months = 10 * H / fp.MS_PER_MONTH
    sto = lines[("lighting", "storage")]
    assert sto.inputs["bytes_measured"] == ts_bytes
    assert sto.kwh == pytest.approx(ts_bytes * 113 / 165 / 1e9 * 1000 * months / 1000)
    sto_env = lines[("environment", "storage")]
    assert sto_env.kwh == pytest.approx(ts_bytes * 12 / 165 / 1e9 * 1000 * months / 1000)
    other_bytes = sum(b for t, b in sizes.items() if t not in fp.TIMESERIES_TABLES)
    with services.store.read() as conn:
        series_total = conn.execute(text("SELECT count(*) FROM series")).scalar_one()
    sto_pf = lines[("platform", "storage")]
    assert sto_pf.kwh == pytest.approx(other_bytes * 5 / series_total / 1e9 * months)

    kwh, kg = est.total()
    assert kwh == pytest.approx(sum(ln.kwh for ln in est.lines))
    assert kg == pytest.approx(sum(ln.kgco2e for ln in est.lines))
    by_domain = est.by_domain()
    assert by_domain["lighting"][0] == pytest.approx(op.kwh + emb.kwh + net.kwh + sto.kwh)
    assert by_domain["lighting"][1] == pytest.approx(
        (op.kwh + net.kwh + sto.kwh) * ci + emb.kgco2e)
    assert est.by_component()["compute"][0] == pytest.approx(comp.kwh)
    assert set(est.factors) >= {"electricity.kgco2e_per_kwh", "network.nbiot.wh_per_message"}


def test_whole_days_from_day_rollups(rig: Rig, services: Services) -> None:
    """A window of whole local days counts from rollup_day, with a late (dirty) reading and a
    window edge inside an hour, and agrees with the raw rows."""
    urns = _setup(rig)
    services.telemetry.materialise(T0 + 3 * DAY)
    rig.feed(urns["air"], "no2", [T0 + 30 * H + 5 * MIN])  # late: marks hour T0+30h dirty
    day_start = T0 - H  # local midnight in Paris (UTC+1)
    with services.store.read() as conn:
        zone = __import__("zoneinfo").ZoneInfo("Europe/Paris")
        counts = fp.readings_in_window(conn, services.store.is_sqlite, rig.tid, zone,
                                       day_start, day_start + 2 * DAY)
        partial = fp.readings_in_window(conn, services.store.is_sqlite, rig.tid, zone,
                                        T0 + 15 * MIN, T0 + 3 * H + 30 * MIN)
    by_domain: dict[str, int] = {}
    for (domain, _t, _n), n in counts.items():
        by_domain[domain] = by_domain.get(domain, 0) + n
    assert by_domain == {"lighting": 113, "environment": 13}
    # 3 lamps × (every 10 min in [00:15, 03:30) = 19) + NB lamp (01:00, 02:00, 03:00) + air
    # (00:30 to 03:00 = 6).
    assert sum(partial.values()) == 3 * 19 + 3 + 6


def test_factor_override_changes_result(rig: Rig, services: Services) -> None:
    rig.asset("Streetlight", "L1")
    before = rig.footprint.estimate(rig.code, T0, T0 + 10 * H)
    line = before.line("lighting", "devices_operating")
    assert line is not None and line.kwh == pytest.approx(0.5 * 10 / 1000)
    rig.footprint.set_factor(rig.code, "device.Streetlight.operating_w", 4, "meter", "tests")
    after = rig.footprint.estimate(rig.code, T0, T0 + 10 * H)
    line = after.line("lighting", "devices_operating")
    assert line is not None and line.kwh == pytest.approx(4 * 10 / 1000)
    listed = {f["key"]: f for f in rig.footprint.factors(rig.code)}
    assert listed["device.Streetlight.operating_w"]["overridden"] is True
    assert listed["device.Streetlight.operating_w"]["source"] == "meter"
    assert listed["server.pue"]["overridden"] is False
    # Reset: back to the default, and both changes are in the audit log.
    rig.footprint.reset_factor(rig.code, "device.Streetlight.operating_w", "tests")
    assert {f["key"]: f for f in rig.footprint.factors(rig.code)}[
        "device.Streetlight.operating_w"]["value"] == 0.5
    with services.store.read() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_log WHERE action LIKE 'footprint.%' ORDER BY id"))]
    assert actions == ["footprint.factor.set", "footprint.factor.reset"]


@pytest.mark.parametrize(("key", "value", "source", "field"), [
    ("device.Nope.operating_w", 1, "x", "key"),
    ("server.pue", -1, "x", "value"),
    ("server.pue", float("nan"), "x", "value"),
    ("server.pue", "high", "x", "value"),
    ("server.pue", True, "x", "value"),
    ("device.Streetlight.lifetime_years", 0, "x", "value"),
    ("server.pue", 1.2, "  ", "source"),
])
def test_invalid_override(rig: Rig, key: str, value: object, source: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        rig.footprint.set_factor(rig.code, key, value, source, "tests")
    assert [d["field"] for d in err.value.details] == [field]


def test_unknown_territory(rig: Rig) -> None:
    with pytest.raises(NotFound):
        rig.footprint.factors("nowhere")


def test_month_window(rig: Rig) -> None:
    start, end = rig.footprint.month_window(rig.code, "2026-11")
    assert (start, end) == (1_793_487_600_000, 1_796_079_600_000)  # Paris, UTC+1
    with pytest.raises(ValidationFailed) as err:
        rig.footprint.month_window(rig.code, "2026-13")
    assert err.value.details[0]["field"] == "month"


def test_default_file_is_complete_and_sourced() -> None:
    factors = fp.load_factors()
    for key in fp.required_keys():
        f = factors.factor(key)
        assert f.source and f.unit
    assert factors.get("electricity.kgco2e_per_kwh") == 0.052
    assert factors.network_of("Streetlight", {}) == "lorawan"
    assert factors.network_of("Streetlight", {"network": "4G"}) == "4g"
    assert factors.network_of("Streetlight", {"network": "smoke"}) == "lorawan"


BAD = """\
version: 1
factors:
  electricity.kgco2e_per_kwh:
    value: -3
    unit: kgCO2e/kWh
    source: somewhere
  storage.replicas:
    value: 2
    colour: blue
networks:
  Streetlight: carrier-pigeon
"""


def test_factor_file_errors_name_the_line() -> None:
    with pytest.raises(ValidationFailed) as err:
        fp.parse_factors(BAD, "bad.yaml")
    by_field = {d["field"]: d for d in err.value.details}
    assert by_field["factors.electricity.kgco2e_per_kwh.value"]["line"] == 4
    assert by_field["factors.electricity.kgco2e_per_kwh.value"]["file"] == "bad.yaml"
    assert by_field["factors.storage.replicas.colour"]["line"] == 9
    assert by_field["factors.storage.replicas.unit"]["reason"] == "required"
    assert by_field["networks.Streetlight"]["line"] == 11
    assert any("device.Camera.operating_w is missing" in d["reason"]
               for d in err.value.details)
    with pytest.raises(ValidationFailed) as err:
        fp.parse_factors("factors:\n  a: [1,\n", "broken.yaml")
    assert err.value.details[0]["file"] == "broken.yaml" and "line" in err.value.details[0]
