"""HTTP routes of the footprint model and the retention policies (no SQL: the service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from beffroi.auth.access import allow
from beffroi.auth.models import Principal, Role
from beffroi.errors import ValidationFailed, field_error
from beffroi.indicators.footprint_service import Footprint
from beffroi.timeutil import TimestampError, parse_ts

router = APIRouter(tags=["footprint"])


def get_footprint(request: Request) -> Footprint:
    footprint: Footprint = request.app.state.services.footprint
    return footprint


FootprintDep = Annotated[Footprint, Depends(get_footprint)]
Reader = Annotated[Principal, allow(Role.SUPERVISOR, Role.VIEWER)]
Writer = Annotated[Principal, allow(Role.ADMINISTRATOR)]


class FactorIn(BaseModel):
    value: Any = Field(description="A finite number >= 0, in the factor's unit.")
    source: Any = Field(description="Where the value comes from (a data sheet, a meter…).")


class RetentionIn(BaseModel):
    raw_days: Any = Field(description="Days of raw readings kept (1 to 36500).")


class RetentionSetIn(BaseModel):
    policies: dict[str, Any] = Field(description="domain → days of raw readings kept; domains "
                                                 "not named lose their policy.")


def _ts(name: str, value: str) -> int:
    try:
        return parse_ts(int(value) if value.lstrip("-").isdigit() else value)
    except TimestampError as exc:
        raise ValidationFailed(f"invalid {name}", [field_error(name, str(exc))]) from exc


@router.get("/territories/{code}/footprint/factors",
            summary="Footprint factors in force (value, unit, source, overridden)")
def list_factors(code: str, footprint: FootprintDep, principal: Reader) -> list[dict[str, Any]]:
    return footprint.factors(code)


@router.put("/territories/{code}/footprint/factors/{key}",
            summary="Override a footprint factor for this territory")
def set_factor(code: str, key: str, data: FactorIn, footprint: FootprintDep,
               principal: Writer) -> dict[str, Any]:
    return footprint.set_factor(code, key, data.value, data.source, principal.actor)


@router.delete("/territories/{code}/footprint/factors/{key}",
               summary="Remove a factor's override (the default applies again)")
def reset_factor(code: str, key: str, footprint: FootprintDep, principal: Writer
                 ) -> dict[str, Any]:
    return footprint.reset_factor(code, key, principal.actor)


@router.get("/territories/{code}/footprint",
            summary="The platform's footprint (kWh, kgCO2e) by domain and component")
def get_estimate(
    code: str, footprint: FootprintDep, principal: Reader,
    from_: Annotated[str | None, Query(alias="from", description="ISO 8601 or epoch ms")] = None,
    to: Annotated[str | None, Query(description="ISO 8601 or epoch ms (excluded)")] = None,
    month: Annotated[str | None, Query(description="A calendar month, e.g. 2026-11")] = None,
) -> dict[str, Any]:
    """Either ``month`` or ``from`` and ``to``; without any, the current month so far."""
    if month is not None:
        start, end = footprint.month_window(code, month)
    elif from_ is not None and to is not None:
        start, end = _ts("from", from_), _ts("to", to)
    elif from_ is not None or to is not None:
        raise ValidationFailed("incomplete window", [field_error(
            "to" if to is None else "from", "give both from and to (or a month)")])
    else:
        start, end = footprint.month_so_far(code)
    return footprint.estimate(code, start, end).to_dict()


@router.get("/territories/{code}/retention",
            summary="Retention policies and what applying them would free")
def get_retention(code: str, footprint: FootprintDep, principal: Reader) -> dict[str, Any]:
    return footprint.retention(code)


@router.put("/territories/{code}/retention", summary="Replace every retention policy")
def put_retention(code: str, data: RetentionSetIn, footprint: FootprintDep, principal: Writer
                  ) -> dict[str, int]:
    return footprint.replace_retention(code, data.policies, principal.actor)


@router.get("/territories/{code}/retention/{domain}",
            summary="One domain's policy and plan")
def get_domain_retention(code: str, domain: str, footprint: FootprintDep, principal: Reader
                         ) -> dict[str, Any]:
    view = footprint.retention(code)
    plans = [p for p in view["plan"]["domains"] if p["domain"] == domain]
    return {"domain": domain, "raw_days": view["policies"].get(domain),
            "plan": plans[0] if plans else None}


@router.put("/territories/{code}/retention/{domain}",
            summary="Set how many days of a domain's raw readings are kept")
def put_domain_retention(code: str, domain: str, data: RetentionIn, footprint: FootprintDep,
                         principal: Writer) -> dict[str, int]:
    return footprint.set_retention(code, domain, data.raw_days, principal.actor)


@router.delete("/territories/{code}/retention/{domain}",
               summary="Remove a domain's policy (raw readings kept forever)")
def delete_domain_retention(code: str, domain: str, footprint: FootprintDep,
                            principal: Writer) -> dict[str, int]:
    return footprint.delete_retention(code, domain, principal.actor)
