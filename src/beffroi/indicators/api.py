"""HTTP routes of indicators and contracts (no SQL here: they call the service)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from beffroi.auth.access import allow
from beffroi.auth.models import Principal, Role
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.definitions import parse_indicator
from beffroi.indicators.models import PERIODS, Contract, Indicator, Value
from beffroi.indicators.service import Indicators

router = APIRouter(tags=["indicators"])

Reader = Annotated[Principal, allow(Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR,
                                    Role.ADMINISTRATOR)]
Computer = Annotated[Principal, allow(Role.SUPERVISOR, Role.ADMINISTRATOR)]
Definer = Annotated[Principal, allow(Role.ADMINISTRATOR)]
Lang = Annotated[Literal["fr", "en"], Query(description="Language of the explanation")]


def get_indicators(request: Request) -> Indicators:
    service: Indicators = request.app.state.services.indicators
    return service


IndicatorsDep = Annotated[Indicators, Depends(get_indicators)]


def _definition(ind: Indicator) -> dict[str, Any]:
    return {**ind.definition, "active": ind.active, "version": ind.version}


class ComputeIn(BaseModel):
    indicators: list[str] | None = Field(None, description="Ids (default: every active one)")
    period: str = Field("month", description=f"One of {', '.join(PERIODS)}")
    label: str | None = Field(None, description="One period: 2026-11, 2026-W47, 2026, "
                                                "2026-11-22 or C2026-01-01")
    start: date | None = Field(None, alias="from", description="First local date")
    end: date | None = Field(None, alias="to", description="Last local date (included)")
    contract: str | None = Field(None, description="For contract_year periods")


class ActiveIn(BaseModel):
    active: bool


@router.get("/territories/{code}/indicators", summary="Indicator definitions (current versions)")
def list_indicators(code: str, service: IndicatorsDep, principal: Reader
                    ) -> list[dict[str, Any]]:
    return [_definition(i) for i in service.definitions(code)]


@router.post("/territories/{code}/indicators", status_code=201,
             summary="Define an indicator (a new version if it exists and changed)")
def define_indicator(code: str, service: IndicatorsDep, principal: Definer,
                     body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return _definition(service.define(code, body, principal.actor))


@router.post("/territories/{code}/indicators/validate",
             summary="Check a definition without storing it (every error with its field)")
def validate_indicator(code: str, service: IndicatorsDep, principal: Computer,
                       body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    known = {i.code for i in service.definitions(code)}
    ind = parse_indicator(body, known=known)
    return {"valid": True, "version": ind.version}


@router.post("/territories/{code}/indicators/defaults",
             summary="Install or update the built-in indicators")
def install_default_indicators(code: str, service: IndicatorsDep, principal: Definer
                               ) -> dict[str, list[str]]:
    return service.install_defaults(code, principal.actor)


@router.post("/territories/{code}/indicators/compute",
             summary="Compute indicators over periods and store the values")
def compute_indicators(code: str, data: ComputeIn, service: IndicatorsDep, principal: Computer
                       ) -> list[dict[str, Any]]:
    windows = service.windows(code, data.period, label=data.label, first=data.start,
                              last=data.end, contract=data.contract)
    return [v.to_dict() for v in service.compute(code, windows, data.indicators)]


@router.get("/territories/{code}/indicators/values", summary="Stored values")
def indicator_values(
    code: str, service: IndicatorsDep, principal: Reader,
    indicator: Annotated[str | None, Query(description="Indicator id")] = None,
    period: Annotated[str | None, Query(description="day, week, month, year…")] = None,
    start: Annotated[date | None, Query(alias="from", description="First local date")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last local date")] = None,
) -> list[dict[str, Any]]:
    a = b = None
    if start or end:
        first = start or end
        assert first is not None
        ws = service.windows(code, "day", first=first, last=end or first)
        a, b = ws[0].start_ms, ws[-1].end_ms
    return [v.to_dict() for v in service.values(code, indicator, period, a, b)]


@router.get("/territories/{code}/indicators/{indicator}",
            summary="One definition with its versions")
def get_indicator(code: str, indicator: str, service: IndicatorsDep, principal: Reader
                  ) -> dict[str, Any]:
    return {**_definition(service.definition(code, indicator)),
            "versions": service.versions(code, indicator)}


@router.put("/territories/{code}/indicators/{indicator}/active",
            summary="Switch an indicator on or off (not a new version)")
def set_indicator_active(code: str, indicator: str, data: ActiveIn, service: IndicatorsDep,
                         principal: Definer) -> dict[str, Any]:
    service.set_active(code, indicator, data.active, principal.actor)
    return _definition(service.definition(code, indicator))


def _one(service: Indicators, code: str, label: str, contract: str | None) -> Any:
    return service.windows(code, "month", label=label, contract=contract)[0]


@router.get("/territories/{code}/indicators/{indicator}/values/{label}/explain",
            summary="Explain a value: definition version, window, inputs, intermediate figures")
def explain_value(code: str, indicator: str, label: str, service: IndicatorsDep,
                  principal: Reader, lang: Lang = "fr",
                  contract: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """Computes the value first if it was never computed for this period."""
    return service.explain(code, indicator, _one(service, code, label, contract), lang)


@router.post("/territories/{code}/indicators/{indicator}/values/{label}/verify",
             summary="Recompute a stored value with its definition version and compare")
def verify_value(code: str, indicator: str, label: str, service: IndicatorsDep,
                 principal: Computer, contract: Annotated[str | None, Query()] = None
                 ) -> dict[str, Any]:
    return service.verify(code, indicator, _one(service, code, label, contract))


# --- contracts --------------------------------------------------------------------------------


def _contract(c: Contract) -> dict[str, Any]:
    return {**c.definition, "version": c.version}


@router.get("/territories/{code}/contracts", summary="Performance contracts")
def list_contracts(code: str, service: IndicatorsDep, principal: Reader
                   ) -> list[dict[str, Any]]:
    return [_contract(c) for c in service.contracts(code)]


@router.put("/territories/{code}/contracts/{contract}",
            summary="Define or replace a contract (clauses, yearly targets, penalties)")
def put_contract(code: str, contract: str, service: IndicatorsDep, principal: Definer,
                 body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    if body.get("id", contract) != contract:
        raise ValidationFailed("the id in the body is not the one in the path",
                               [field_error("id", f"must be {contract!r}")])
    return _contract(service.define_contract(code, {**body, "id": contract}, principal.actor))


@router.get("/territories/{code}/contracts/{contract}", summary="One contract")
def get_contract(code: str, contract: str, service: IndicatorsDep, principal: Reader
                 ) -> dict[str, Any]:
    return _contract(service.contract(code, contract))


@router.get("/territories/{code}/contracts/{contract}/report",
            summary="Contract report: target, achieved, gap, penalty and explanation per clause",
            responses={200: {"content": {"text/html": {}, "application/pdf": {}}}})
def contract_report(
    code: str, contract: str, service: IndicatorsDep, principal: Reader, lang: Lang = "fr",
    year: Annotated[int | None, Query(ge=1, le=50, description="Contract year (1-based)")
                    ] = None,
    label: Annotated[str | None, Query(description="Any period instead: 2026-11, 2026…")
                     ] = None,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "json",
) -> Any:
    from dataclasses import asdict

    from beffroi.indicators import report as render

    rep = service.contract_report(code, contract, year=year, label=label, locale=lang)
    name = f"{code}-{contract}-{rep.period_label}"
    if format == "html":
        return Response(render.render_html(rep), media_type="text/html; charset=utf-8")
    if format == "pdf":
        return Response(render.render_pdf(rep), media_type="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{name}.pdf"'})
    return asdict(rep)


def value_dict(v: Value) -> dict[str, Any]:
    return v.to_dict()
