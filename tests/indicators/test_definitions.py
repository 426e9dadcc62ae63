"""Indicator and contract definitions: validation with precise errors, versions, defaults."""

from __future__ import annotations

import pytest

from beffroi.errors import ValidationFailed
from beffroi.indicators.contracts import parse_contract_yaml, penalty
from beffroi.indicators.definitions import parse_indicator, parse_yaml
from beffroi.indicators.models import Penalty
from beffroi.indicators.service import default_files


def _errors(text: str) -> list[dict[str, object]]:
    with pytest.raises(ValidationFailed) as exc:
        parse_yaml(text, "bad.yaml")
    return exc.value.details


def test_every_error_names_its_field_and_line() -> None:
    errors = _errors("""indicators:
  - id: energy
    name: Energy
    unit: kWh
    aggregate: summ
  - id: no2
    name: NO2
    unit: "µg/m³"
    aggregate: count_buckets_above
    series: {types: [AirQualityObserved], metric: no3}
    params: {bucket: week, limit: "fifty"}
  - id: share
    name: Share
    unit: "%"
    aggregate: ratio
    inputs: [share, missing]
    target: "about 3"
""")
    found = {(e["field"], e.get("line")) for e in errors}
    assert ("indicators[0].aggregate", 5) in found
    assert ("indicators[1].series.metric", 10) in found
    assert ("indicators[1].params.bucket", 11) in found
    assert ("indicators[1].params.limit", 11) in found
    assert ("indicators[2].inputs", 16) in found
    assert ("indicators[2].target", 17) in found
    assert all(e["file"] == "bad.yaml" for e in errors)
    reasons = " ".join(str(e["reason"]) for e in errors)
    assert "'no3' is not reported by AirQualityObserved" in reasons
    assert "'summ' is not one of" in reasons


def test_missing_parts_unknown_fields_and_cycles() -> None:
    errors = _errors("""indicators:
  - {id: a, name: A, unit: x, aggregate: difference, inputs: [b, c]}
  - {id: b, name: B, unit: x, aggregate: ratio, inputs: [a, c]}
  - {id: c, name: C, unit: x, aggregate: ratio_of_sums,
     series: {types: [Building], metric: energyConsumed}, colour: red}
  - {id: d, name: D, unit: x, aggregate: sum, series: {metric: intensity}}
  - {id: e, name: E, unit: x, aggregate: percentile_of_durations,
     params: {from: on_site, to: reported, p: 120}}
  - {id: a, name: dup, unit: x, aggregate: count}
""")
    fields = {e["field"]: e["reason"] for e in errors}
    assert "circular inputs" in str(fields["indicators[0].inputs"])
    assert fields["indicators[2].denominator"] == "required by ratio_of_sums"
    assert "unknown field" in str(fields["indicators[2].colour"])
    assert fields["indicators[3].series"] == "select assets by types, domains or assets"
    assert "between 0 and 100" in str(fields["indicators[4].params.p"])
    assert "after 'on_site'" in str(fields["indicators[4].params.to"])
    assert "duplicate indicator id 'a'" in str(fields["indicators[5].id"])


def test_yaml_booleans_get_a_hint() -> None:
    errors = _errors("indicators:\n  - {id: x, name: Off, unit: x, aggregate: count}\n")
    assert errors[0]["field"] == "indicators[0].name" and "quote the value" in str(
        errors[0]["reason"])


def test_api_body_errors_are_relative_to_the_body() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_indicator({"id": "x", "name": "X", "aggregate": "sum", "unit": "kWh"})
    assert exc.value.details[0]["field"] == "series"


def test_version_is_the_content_not_the_switch() -> None:
    base = {"id": "e", "name": "E", "unit": "kWh", "aggregate": "count"}
    v1 = parse_indicator(base).version
    assert parse_indicator({**base, "active": False}).version == v1
    assert parse_indicator({**base, "unit": "incidents"}).version != v1
    assert len(v1) == 64


def test_the_built_in_definitions_are_valid_and_sourced() -> None:
    items = []
    for path in default_files():
        items += parse_yaml(path.read_text(encoding="utf-8"), path.name,
                            known={i.code for i in items})
    assert len(items) >= 30
    assert all(i.source and i.description and {"fr", "en"} <= set(i.name) for i in items)
    codes = {i.code for i in items}
    assert {"lighting-energy", "lighting-savings", "availability-streetlight",
            "interventions-on-site-p90", "interventions-on-site-within-sla",
            "waste-fill-at-collection", "parking-occupancy", "traffic-congestion-hours",
            "air-pm10-days-above", "air-no2-hours-above", "water-ph-within-limits",
            "platform-availability", "residents-reports"} <= codes


CONTRACT = """contract:
  id: lighting-perf
  title: Marché global de performance — éclairage
  parties: [Ville de Testville, Lumière SA]
  start: 2026-01-01
  years: 12
  clauses:
    - ref: "art. 12.1"
      indicator: lighting-savings-share
      comparator: ">="
      targets: {1: 20, 2: 30, "3-12": 65}
      penalty: {per_unit: 1000, step: 1, cap: 50000}
    - ref: "art. 12.2"
      indicator: availability-streetlight
      comparator: ">="
      targets: {"1-12": 98}
      penalty: {per_unit: 500, step: 0.5, rounding: up}
"""


def test_contract_parses_and_names_its_errors() -> None:
    c = parse_contract_yaml(CONTRACT, "c.yaml", known={"lighting-savings-share",
                                                       "availability-streetlight"})
    assert c.clauses[0].targets[1] == 20 and c.clauses[0].targets[12] == 65
    assert len(c.clauses[1].targets) == 12
    bad = CONTRACT.replace('"3-12": 65', '"3-14": 65').replace("start: 2026-01-01",
                                                               "start: 2026-13-01")
    with pytest.raises(ValidationFailed) as exc:
        parse_contract_yaml(bad, "c.yaml", known={"lighting-savings-share"})
    fields = {(e["field"], e.get("line")) for e in exc.value.details}
    assert ("contract.start", 5) in fields
    assert ("contract.clauses[0].targets.3-14", 11) in fields
    assert ("contract.clauses[1].indicator", 14) in fields


def test_penalties() -> None:
    p = Penalty(per_unit=1000, step=1, cap=50000)
    assert penalty(p, ">=", 30, 27.5) == 2500.0  # 2.5 points short
    assert penalty(p, ">=", 30, 31) == 0.0
    assert penalty(p, ">=", 65, 0) == 50000.0  # capped
    assert penalty(p, "<=", 100, 104) == 4000.0
    assert penalty(p, ">=", 30, None) == 0.0
    up = Penalty(per_unit=500, step=0.5, rounding="up")
    assert penalty(up, ">=", 98, 97.6) == 500.0  # 0.4 point: one started half-point
    assert penalty(up, ">=", 98, 97.4) == 1000.0
    down = Penalty(per_unit=500, step=0.5, rounding="down")
    assert penalty(down, ">=", 98, 97.6) == 0.0
