"""HTTP routes of the rules package (no SQL here: they call the service).

Reads: every role that reads (viewer and up). Rules are written by supervisors and
administrators; alarms are acknowledged and cleared by operators (for the alarms of their
control posts) and supervisors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from beffroi.api.deps import Cursor, RulesDep
from beffroi.api.responses import JSONBody
from beffroi.auth.access import READERS, allow
from beffroi.auth.models import Principal, Role
from beffroi.rules.models import AlarmNote, RuleSwitch

router = APIRouter()

AUTHORS = (Role.SUPERVISOR, Role.ADMINISTRATOR)
HANDLERS = (Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR)
RuleBody = Annotated[dict[str, Any], Body(description="A rule (see docs/rules.md).")]


@router.get("/territories/{code}/rules", tags=["rules"], summary="Rules of the territory",
            dependencies=[allow(*READERS)])
def list_rules(code: str, rules: RulesDep) -> JSONBody:
    return JSONBody({"items": rules.list_rules(code)})


@router.post("/territories/{code}/rules", status_code=201, tags=["rules"],
             summary="Create a rule")
def create_rule(code: str, body: RuleBody, rules: RulesDep,
                principal: Annotated[Principal, allow(*AUTHORS)]) -> JSONBody:
    return JSONBody(rules.create_rule(code, body, principal), status_code=201)


@router.post("/territories/{code}/rules/validate", tags=["rules"],
             summary="Validate a rule or {rules: [...]} without storing anything",
             dependencies=[allow(*AUTHORS)])
def validate_rules(code: str, body: Annotated[Any, Body()], rules: RulesDep) -> JSONBody:
    checked = rules.validate(body)
    return JSONBody({"valid": True, "rules": [r.id for r in checked]})


@router.post("/territories/{code}/rules/activation", tags=["rules"],
             summary="Switch rules on or off (crisis plans)")
def switch_rules(code: str, body: RuleSwitch, rules: RulesDep,
                 principal: Annotated[Principal, allow(*AUTHORS)]) -> JSONBody:
    rules.set_active(code, body.rules, body.active, principal.actor)
    return JSONBody({"items": [rules.get_rule(code, r) for r in body.rules]})


@router.post("/territories/{code}/rules/defaults", tags=["rules"],
             summary="Install the shipped default rule set (or some of its domains)")
def install_defaults(code: str, rules: RulesDep,
                     principal: Annotated[Principal, allow(*AUTHORS)],
                     domain: Annotated[list[str] | None, Query()] = None) -> JSONBody:
    return JSONBody(rules.install_defaults(code, principal.actor, domain))


@router.get("/territories/{code}/rules/{rule_id}", tags=["rules"], summary="One rule",
            dependencies=[allow(*READERS)])
def get_rule(code: str, rule_id: str, rules: RulesDep) -> JSONBody:
    return JSONBody(rules.get_rule(code, rule_id))


@router.put("/territories/{code}/rules/{rule_id}", tags=["rules"],
            summary="Replace a rule (a new version)")
def put_rule(code: str, rule_id: str, body: RuleBody, rules: RulesDep,
             principal: Annotated[Principal, allow(*AUTHORS)]) -> JSONBody:
    return JSONBody(rules.update_rule(code, rule_id, body, principal))


@router.delete("/territories/{code}/rules/{rule_id}", status_code=204, tags=["rules"],
               summary="Delete a rule (its open alarms are cleared; history kept)")
def delete_rule(code: str, rule_id: str, rules: RulesDep,
                principal: Annotated[Principal, allow(*AUTHORS)]) -> Response:
    rules.delete_rule(code, rule_id, principal)
    return Response(status_code=204)


@router.get("/territories/{code}/alarms", tags=["alarms"], summary="Alarms, newest first",
            dependencies=[allow(*READERS)])
def list_alarms(
    code: str,
    rules: RulesDep,
    state: Annotated[str | None, Query(
        description="raised | acknowledged | cleared | open (raised or acknowledged)")] = None,
    post: Annotated[str | None, Query(description="Control post")] = None,
    severity: Annotated[str | None, Query(description="critical | major | minor | warning")
                        ] = None,
    asset: Annotated[str | None, Query(description="Asset URN")] = None,
    rule: Annotated[str | None, Query(description="Rule id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
) -> JSONBody:
    return JSONBody(rules.list_alarms(code, state=state, post=post, severity=severity,
                                      asset=asset, rule=rule, cursor=cursor, limit=limit))


@router.get("/territories/{code}/alarms/{alarm_id}", tags=["alarms"],
            summary="One alarm with its history", dependencies=[allow(*READERS)])
def get_alarm(code: str, alarm_id: int, rules: RulesDep) -> JSONBody:
    return JSONBody(rules.get_alarm(code, alarm_id))


@router.post("/territories/{code}/alarms/{alarm_id}/acknowledge", tags=["alarms"],
             summary="Acknowledge an alarm")
def acknowledge(code: str, alarm_id: int, rules: RulesDep,
                principal: Annotated[Principal, allow(*HANDLERS)],
                body: AlarmNote | None = None) -> JSONBody:
    return JSONBody(rules.acknowledge(code, alarm_id, principal, body.note if body else None))


@router.post("/territories/{code}/alarms/{alarm_id}/clear", tags=["alarms"],
             summary="Clear an alarm by hand, with a note")
def clear(code: str, alarm_id: int, rules: RulesDep,
          principal: Annotated[Principal, allow(*HANDLERS)],
          body: AlarmNote | None = None) -> JSONBody:
    return JSONBody(rules.clear(code, alarm_id, principal, body.note if body else None))
