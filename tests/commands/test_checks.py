"""Validation (precise field errors) and the right to command (role and control post), at the
service level with Principal objects. Nothing here reaches the broker: every send is refused
before a row is written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from beffroi.api.deps import Services
from beffroi.auth.models import SYSTEM, Grant, Principal, Role
from beffroi.commands import catalogue
from beffroi.commands import repository as repo
from beffroi.errors import BeffroiError, Forbidden, NotFound, ValidationFailed


def who(code: str, role: Role, *posts: str) -> Principal:
    return Principal("user", "sam", {code: Grant(role, frozenset(posts))})


def details(services: Services, code: str, principal: Principal = SYSTEM, **kwargs: Any
            ) -> list[dict[str, Any]]:
    with pytest.raises(BeffroiError) as caught:
        services.commands.send(code, principal, **kwargs)
    assert isinstance(caught.value, ValidationFailed | Forbidden | NotFound)
    return caught.value.details


def rows(services: Services) -> int:
    with services.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(repo.commands)).scalar_one())


@pytest.mark.parametrize(("command", "params", "expected"), [
    ("dim", {"level": 150}, [{"field": "params.level", "reason": "must be between 0 and 100"}]),
    ("dim", {"level": -1}, [{"field": "params.level", "reason": "must be between 0 and 100"}]),
    ("dim", {"level": "50"}, [{"field": "params.level",
                               "reason": "Input should be a valid integer"}]),
    ("dim", {"level": True}, [{"field": "params.level",
                               "reason": "Input should be a valid integer"}]),
    ("dim", {}, [{"field": "params.level", "reason": "required"}]),
    ("dim", {"level": 5, "fade": 3}, [{"field": "params.fade",
                                       "reason": "unknown parameter (allowed: level)"}]),
    ("switch", {"on": "yes"}, [{"field": "params.on",
                                "reason": "Input should be a valid boolean"}]),
    ("schedule", {"entries": [{"at": "24:00", "level": 10}, {"at": "06:00", "level": 101}]}, [
        {"field": "params.entries.0.at", "reason": "a local time HH:MM between 00:00 and 23:59"},
        {"field": "params.entries.1.level", "reason": "must be between 0 and 100"}]),
    ("schedule", {"entries": [{"at": "06:00", "level": 1}, {"at": "06:00", "level": 2}]}, [
        {"field": "params.entries", "reason": "two entries at 06:00"}]),
    ("schedule", {"entries": []}, [{"field": "params.entries",
                                    "reason": "List should have at least 1 item after "
                                              "validation, not 0"}]),
])
def test_parameters_are_checked_field_by_field(services: Services, code: str,
                                               fleet: dict[str, Any], command: str,
                                               params: dict[str, Any],
                                               expected: list[dict[str, Any]]) -> None:
    assert details(services, code, command=command, params=params,
                   urns=[fleet["cabinet"]]) == expected
    assert rows(services) == 0


def test_sign_messages(services: Services, code: str, fleet: dict[str, Any]) -> None:
    assert details(services, code, command="display", params={"message": "x" * 65},
                   urns=[fleet["park"]]) == [
        {"field": "params.message", "reason": "at most 64 characters (got 65)"}]
    assert details(services, code, command="display", params={"message": "ok", "lang": "FR"},
                   urns=[fleet["park"]]) == [
        {"field": "params.lang", "reason": "a two-letter ISO 639-1 code such as fr or en"}]
    assert details(services, code, command="display", params={"message": "a\nb"},
                   urns=[fleet["park"]]) == [
        {"field": "params.message", "reason": "control characters are not allowed"}]


def test_unknown_command_names_the_allowed_ones(services: Services, code: str,
                                                fleet: dict[str, Any]) -> None:
    assert details(services, code, command="set_plan", params={"plan": "P1"},
                   urns=[fleet["signal"], fleet["cabinet"]]) == [
        {"field": "urns.1", "reason": "unknown command 'set_plan' for StreetlightControlCabinet "
                                      "(allowed: switch, dim, schedule)"}]
    assert details(services, code, command="explode", urns=[fleet["cabinet"]]) == [
        {"field": "command", "reason": "unknown command 'explode' (known: dim, disable, display, "
                                       "enable, reboot, schedule, set_mode, set_plan, switch)"}]
    assert details(services, code, command="switch", params={"on": True},
                   selector={"type": "Streetlight"}) == [
        {"field": "selector.type", "reason": "unknown command 'switch' for Streetlight "
                                             "(allowed: dim)"}]


def test_targets_are_checked(services: Services, code: str, fleet: dict[str, Any]) -> None:
    ghost = f"urn:ngsi-ld:Streetlight:{code}:NOPE"
    assert details(services, code, command="dim", params={"level": 1},
                   urns=[fleet["lone"], ghost]) == [
        {"field": "urns.1", "reason": f"no asset {ghost!r} in this territory"}]
    assert details(services, code, command="dim", params={"level": 1}) == [
        {"field": "urns", "reason": "give either urns or selector (exactly one)"}]
    assert details(services, code, command="dim", params={"level": 1}, urns=[fleet["lone"]],
                   selector={"type": "Streetlight"}) == [
        {"field": "urns", "reason": "give either urns or selector (exactly one)"}]
    assert details(services, code, command="dim", params={"level": 1}, selector={}) == [
        {"field": "selector", "reason": "give at least one of type, parent, area, bbox, domain"}]
    assert details(services, code, command="dim", params={"level": 1},
                   selector={"area": {"type": "Point", "coordinates": [0, 0]}}) == [
        {"field": "selector.area", "reason": "a GeoJSON Polygon or MultiPolygon expected"}]
    assert details(services, code, command="dim", params={"level": 1},
                   selector={"parent": f"urn:ngsi-ld:StreetlightControlCabinet:{code}:C9"}) == [
        {"field": "selector.parent",
         "reason": f"no asset 'urn:ngsi-ld:StreetlightControlCabinet:{code}:C9' in this "
                   "territory"}]
    assert details(services, code, command="dim", params={"level": 1},
                   selector={"bbox": [10, 10, 11, 11]}) == [
        {"field": "selector", "reason": "no asset of a type accepting 'dim' "
                                        "(StreetlightControlCabinet, Streetlight) matches"}]
    assert details(services, code, command="dim", params={"level": 1}, urns=[fleet["lone"]],
                   timeout_s=0) == [
        {"field": "timeout_s", "reason": "Input should be greater than or equal to 1"}]
    with pytest.raises(NotFound):
        services.commands.send("nowhere", SYSTEM, command="dim", params={"level": 1},
                               urns=[fleet["lone"]])
    assert rows(services) == 0


def test_operators_command_only_their_posts(services: Services, code: str,
                                            fleet: dict[str, Any]) -> None:
    traffic = who(code, Role.OPERATOR, "traffic")
    assert details(services, code, traffic, command="dim", params={"level": 1},
                   urns=[fleet["cabinet"]]) == [
        {"field": "urns.0", "asset": fleet["cabinet"],
         "reason": "the asset belongs to the lighting control post; user:sam operates traffic"}]
    found = details(services, code, traffic, command="dim", params={"level": 1},
                    selector={"parent": fleet["cabinet"]})
    assert len(found) == 3 and {d["field"] for d in found} == {"selector"}
    assert rows(services) == 0


def test_roles_per_command(services: Services, code: str, fleet: dict[str, Any]) -> None:
    for role in (Role.VIEWER, Role.FIELD_AGENT, Role.DEVICE):
        assert details(services, code, who(code, role), command="set_plan",
                       params={"plan": "P1"}, urns=[fleet["signal"]]) == [
            {"field": "urns.0", "asset": fleet["signal"],
             "reason": f"role {role.value} may not send 'set_plan' "
                       "(allowed: administrator, operator, supervisor)"}]
    stranger = Principal("user", "eve", {"elsewhere": Grant(Role.ADMINISTRATOR)})
    assert details(services, code, stranger, command="set_plan", params={"plan": "P1"},
                   urns=[fleet["signal"]])[0]["reason"] == (
        f"user:eve has no role in territory {code!r}")
    # flashing a junction is a supervisor's decision, even for the traffic post's operator
    assert details(services, code, who(code, Role.OPERATOR, "traffic"), command="set_mode",
                   params={"mode": "flashing"}, urns=[fleet["signal"]])[0]["reason"] == (
        "role operator may not send 'set_mode' (allowed: administrator, supervisor)")
    assert rows(services) == 0


def test_refusal_rules() -> None:
    spec = catalogue.spec_for("TrafficSignal", "set_plan")
    code = "t"
    assert catalogue.refusal(who(code, Role.OPERATOR, "traffic"), code, spec, "traffic") is None
    assert catalogue.refusal(who(code, Role.SUPERVISOR), code, spec, "lighting") is None
    assert catalogue.refusal(SYSTEM, code, spec, None) is None
    assert catalogue.refusal(who(code, Role.OPERATOR, "traffic"), code, spec, None) == (
        "the asset belongs to the unassigned control post; user:sam operates traffic")


def test_post_of_gives_the_post_of_assets_without_one(services: Services, code: str,
                                                      fleet: dict[str, Any]) -> None:
    from beffroi.assets.models import AssetPatch

    services.registry.update_asset(code, fleet["signal"], AssetPatch(control_post=None))
    traffic = who(code, Role.OPERATOR, "traffic")
    assert [e.command for e in services.commands.catalogue(code, traffic, fleet["signal"])] == [
        "set_plan"]  # the type's default post
    services.commands.post_of = lambda _code, _type: "police"
    assert services.commands.catalogue(code, traffic, fleet["signal"]) == []


def test_catalogue_of_an_asset_for_a_principal(services: Services, code: str,
                                               fleet: dict[str, Any]) -> None:
    entries = services.commands.catalogue(code, SYSTEM, fleet["cabinet"])
    assert [e.command for e in entries] == ["switch", "dim", "schedule"]
    dim = entries[1]
    assert dim.params["required"] == ["level"] and "level" in dim.params["properties"]
    supervisor = who(code, Role.SUPERVISOR)
    assert [e.command for e in services.commands.catalogue(code, supervisor, fleet["signal"])
            ] == ["set_plan", "set_mode"]
    assert [e.command for e in services.commands.catalogue(
        code, who(code, Role.OPERATOR, "traffic"), fleet["signal"])] == ["set_plan"]
    assert services.commands.catalogue(code, who(code, Role.VIEWER), fleet["signal"]) == []
    with pytest.raises(NotFound):
        services.commands.catalogue(code, SYSTEM, f"urn:ngsi-ld:Camera:{code}:X")


def test_list_filters_are_checked(services: Services, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.commands.list_commands(code, state="done")
    assert caught.value.details[0]["field"] == "state"
    assert services.commands.list_commands(code) == ([], None)


def test_standing_lines_are_all_checked_first(services: Services, code: str,
                                              fleet: dict[str, Any]) -> None:
    found = details_standing(services, code, [
        {"selector": {"type": "Streetlight"}, "command": "dim", "params": {"level": 100}},
        {"selector": {"type": "OffStreetParking"}, "command": "display",
         "params": {"message": ""}},
    ])
    assert found == [{"field": "specs.1.params.message", "reason": "must not be empty"}]
    found = details_standing(services, code, [
        {"selector": {"type": "Streetlight"}, "command": "dim", "params": {"level": 1},
         "timeout_s": -1}])
    assert found == [{"field": "specs.0.timeout_s",
                      "reason": "Input should be greater than or equal to 1"}]
    found = details_standing(services, code, [
        {"selector": {"type": "Streetlight"}, "command": "dim", "params": {"level": 1}},
        {"selector": {"type": "Camera"}, "command": "reboot"}])  # no camera here
    assert found == [{"field": "specs.1.selector",
                      "reason": "no asset of a type accepting 'reboot' (Camera) matches"}]
    found = details_standing(services, code, [{"selector": {}, "command": "dim"}])
    assert found == [{"field": "specs.0.selector",
                      "reason": "give at least one of type, parent, area, bbox, domain"}]
    assert rows(services) == 0


def details_standing(services: Services, code: str, specs: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        services.commands.send_standing(code, SYSTEM, specs)
    return caught.value.details
