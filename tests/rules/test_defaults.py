"""The shipped rule set installs and works on a small city."""

from __future__ import annotations

from beffroi.auth.models import SYSTEM
from tests.rules.conftest import MIN, T0, Rig


def test_defaults_install_and_raise(rig: Rig) -> None:
    result = rig.services.rules.install_defaults(rig.code, SYSTEM.actor)
    assert len(result["created"]) == 53
    again = rig.services.rules.install_defaults(rig.code, SYSTEM.actor)
    assert again["created"] == [] and again["updated"] == []
    cabinet = rig.asset("StreetlightControlCabinet", "c")
    lamps = [rig.asset("Streetlight", f"l{i}", parent=cabinet) for i in range(10)]
    camera = rig.asset("Camera", "cam")
    weather = rig.asset("WeatherObserved", "w")
    water = rig.asset("WaterQualityObserved", "q")
    bin_ = rig.asset("WasteContainer", "b")
    rig.feed(*[(u, "status", T0, "ok") for u in lamps], (camera, "status", T0, "online"),
             (weather, "temperature", T0, 4.0), (water, "pH", T0, 7.4),
             (bin_, "fillingLevel", T0, 0.3))
    assert rig.alarms() == []
    rig.feed(*[(u, "status", T0 + MIN, "defectiveLamp") for u in lamps[:3]],
             (camera, "status", T0 + MIN, "tampered"),
             (weather, "temperature", T0 + MIN, -1.0),
             (weather, "precipitation", T0 + 2 * MIN, 0.6),
             (bin_, "fillingLevel", T0 + MIN, 0.95))
    raised = {(a["rule"], a["asset"]) for a in rig.alarms(state="open")}
    assert ("lighting-cabinet-lamps-failed", cabinet) in raised
    assert {("lighting-lamp-failure", u) for u in lamps[:3]} <= raised
    assert ("cameras-tampered", camera) in raised
    assert ("weather-snow-ice-risk", None) in raised
    assert ("waste-nearly-full", bin_) in raised
    snow = next(a for a in rig.alarms() if a["rule"] == "weather-snow-ice-risk")
    assert snow["post"] == "snow" and snow["incident"] == "open"


def test_every_default_rule_names_a_default_incident_category() -> None:
    """An alarm opens (or would open) an incident of its rule's category: that category must
    exist among those a territory starts with, else the incident has no SLA and no title."""
    from beffroi.operations.defaults import CATEGORIES
    from beffroi.rules.definitions import parse_yaml
    from beffroi.rules.service import default_files

    rules = [r for f in default_files() for r in parse_yaml(f.read_text(), f.name)]
    used = {r.category for r in rules if r.category is not None}
    assert used and used <= set(CATEGORIES), sorted(used - set(CATEGORIES))
