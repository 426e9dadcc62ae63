"""Validation of rule definitions: every error at once, each with its field path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from beffroi.errors import ValidationFailed
from beffroi.rules.definitions import parse_duration, parse_rule, parse_yaml
from beffroi.rules.service import default_files


def errors_of(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ValidationFailed) as info:
        parse_yaml(text, "rules.yaml")
    assert all(d["file"] == "rules.yaml" for d in info.value.details)
    return [(d["field"], d.get("line"), d["reason"]) for d in info.value.details]


def test_every_error_with_field_and_line() -> None:
    found = errors_of("""\
rules:
  - id: ok-rule
    name: Fine
    severity: minor
    scope: {types: [Streetlight]}
    when: {kind: state, metric: status, in: [defectiveLamp]}
  - id: Not_An_Id
    name: Broken
    severity: huge
    colour: red
    scope:
      types: [Streetlamp]
      area: {type: Polygon, coordinates: [[[2, 48], [3, 48], [3, 49]]]}
    when:
      kind: threshold
      metric: pm10
      op: ">"
      value: fifty
      for: an hour
      clear_above: 45
  - id: ok-rule
    name: Twice
    severity: minor
    when: {kind: teleport}
""")
    by_field = {f: (line, reason) for f, line, reason in found}
    assert by_field["rules[1].id"][0] == 7
    assert by_field["rules[1].severity"] == (9, "'huge' is not one of critical, major, minor, "
                                                "warning")
    assert by_field["rules[1].colour"][0] == 10
    assert "unknown field" in by_field["rules[1].colour"][1]
    assert by_field["rules[1].scope.types[0]"][0] == 12
    assert "Streetlamp" in by_field["rules[1].scope.types[0]"][1]
    assert by_field["rules[1].scope.area"][0] == 13
    assert by_field["rules[1].when.value"][0] == 18
    assert by_field["rules[1].when.for"] == (
        19, "'an hour' is not a duration (examples: 90s, 15min, 1h, 1h30m, 2d)")
    assert by_field["rules[1].when.clear_above"][0] == 20
    assert "clear_below" in by_field["rules[1].when.clear_above"][1]
    assert by_field["rules[2].id"][0] == 21 and "duplicate" in by_field["rules[2].id"][1]
    assert by_field["rules[2].when.kind"][0] == 24


def test_metric_must_fit_the_scope_types_and_kind() -> None:
    found = errors_of("""\
rules:
  - id: a
    name: A
    severity: minor
    scope: {types: [AirQualityObserved]}
    when: {kind: threshold, metric: pm100, op: ">", value: 1}
  - id: b
    name: B
    severity: minor
    scope: {types: [Streetlight]}
    when: {kind: threshold, metric: status, op: ">", value: 1}
""")
    reasons = {f: r for f, _line, r in found}
    assert "not reported by AirQualityObserved" in reasons["rules[0].when.metric"]
    assert "declared: co2, no, no2" in reasons["rules[0].when.metric"]
    assert "a state series" in reasons["rules[1].when.metric"]


def test_kind_specific_errors() -> None:
    found = errors_of("""\
rules:
  - id: s
    name: S
    severity: minor
    when: {kind: silent, factor: 3}
  - id: g
    name: G
    severity: major
    when:
      kind: group
      member: {types: [Streetlight]}
      condition: {kind: state, metric: status, in: [defectiveLamp], for: 1h}
      share: "> 120%"
  - id: c
    name: C
    severity: major
    when: {kind: all, conditions: [{kind: silent, after: 1h}]}
  - id: r
    name: R
    severity: major
    scope: {types: [WasteContainer]}
    when: {kind: rate, metric: temperature, change: -3, per: 0s}
""")
    fields = {f for f, _l, _r in found}
    assert fields == {
        "rules[0].when.period", "rules[1].when.condition.for", "rules[1].when.share",
        "rules[2].when.conditions", "rules[3].when.change", "rules[3].when.per",
    }


def test_yaml_syntax_error_has_a_line() -> None:
    found = errors_of("rules:\n  - id: x\n    name: [unclosed\n")
    assert found[0][0] == "file" and found[0][1] is not None


def test_not_a_list() -> None:
    assert errors_of("rules: 3")[0][:2] == ("rules", 1)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("15min") == 900_000
    assert parse_duration("2d") == 172_800_000
    assert parse_duration(90) == 90_000
    for bad in ("1 hour", "h", "", "-1h", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_single_rule_fields_have_no_prefix() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_rule({"id": "x", "name": "X", "severity": "minor",
                    "when": {"kind": "threshold", "metric": "pm10", "op": ">"}})
    assert [d["field"] for d in info.value.details] == ["when.value"]


def test_every_shipped_default_is_valid_and_documented() -> None:
    files = default_files()
    assert {f.stem for f in files} == {"air", "water", "weather", "lighting", "waste", "parking",
                                       "traffic", "buildings", "ev", "cameras"}
    ids: set[str] = set()
    for f in files:
        rules = parse_yaml(Path(f).read_text(encoding="utf-8"), f.name)
        assert rules, f
        for r in rules:
            assert r.source, f"{f.name}: {r.id} has no source"
            assert {"fr", "en"} <= set(r.name), f"{f.name}: {r.id} needs fr and en names"
            assert r.id not in ids
            ids.add(r.id)
