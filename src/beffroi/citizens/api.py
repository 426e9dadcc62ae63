"""Open311 GeoReport v2 routes (``router``, mounted at /open311/v2) and the control room's
routes about reports and API keys (``admin_router``, mounted at /api/v1).

The Open311 routes are public (POST needs a client application's ``api_key``); every path
ends with the format, ``.json`` or ``.xml``; errors are the spec's list
``[{"code": 400, "description": "…"}]`` (``<errors><error>…`` in XML) with the same HTTP
status. ``jurisdiction_id`` is the territory code (optional when there is one territory).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from beffroi import __version__
from beffroi.api.deps import get_services
from beffroi.auth.access import allow
from beffroi.auth.models import Principal, Role
from beffroi.citizens.models import (
    ClientCreated,
    ClientIn,
    ClientOut,
    PublicNoteIn,
    RequestIn,
    ServiceRequestAdmin,
    ServiceRequestOut,
)
from beffroi.citizens.service import Citizens, RateLimited, parse_w3c
from beffroi.errors import BadRequest, BeffroiError, NotFound

router = APIRouter(tags=["open311"])
admin_router = APIRouter(tags=["open311 administration"])

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00Z"  # when this endpoint's behaviour last changed
MAX_BODY = 64 * 1024
POST_FIELDS = ("service_code", "description", "lat", "long", "address_string", "address_id",
               "media_url", "first_name", "last_name", "email", "phone", "device_id",
               "account_id")

PERSONAL_FIELDS = ("first_name", "last_name", "email", "phone", "device_id", "account_id")

Fmt = Annotated[str, "json or xml"]
Jurisdiction = Annotated[str | None, Query(description="The territory code (optional when "
                                           "the installation has one territory).")]
Lang = Annotated[str | None, Query(description="fr (default) or en; else Accept-Language.")]


def _citizens(request: Request) -> Citizens:
    return get_services(request).citizens


def _lang(request: Request, lang: str | None) -> str:
    if lang:
        return "en" if lang.lower().startswith("en") else "fr"
    accepted = request.headers.get("accept-language", "")
    first = accepted.split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "fr"


# --- rendering ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml(root: str, item: str, items: Sequence[dict[str, Any]]) -> bytes:
    top = ET.Element(root)
    for values in items:
        element = ET.SubElement(top, item)
        _fill(element, values)
    return _xml_bytes(top)


def _xml_bytes(top: ET.Element) -> bytes:
    body: bytes = ET.tostring(top, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def _fill(element: ET.Element, values: dict[str, Any]) -> None:
    for key, value in values.items():
        child = ET.SubElement(element, key)
        if isinstance(value, dict):
            _fill(child, value)
        elif isinstance(value, list):
            singular = {"formats": "format", "endpoints": "endpoint",
                        "attributes": "attribute", "values": "value"}.get(key, "item")
            for entry in value:
                sub = ET.SubElement(child, singular)
                if isinstance(entry, dict):
                    _fill(sub, entry)
                else:
                    sub.text = _text(entry)
        else:
            child.text = _text(value)


def _render(fmt: str, root: str, item: str, items: Sequence[dict[str, Any]],
            status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = _xml(root, item, items) if fmt == "xml" else orjson.dumps(list(items))
    return Response(body, status_code=status, media_type=FORMATS[fmt], headers=headers)


def _error(fmt: str, exc: BeffroiError) -> Response:
    status = 400 if exc.status == 422 else exc.status
    errors = [{"code": status, "description": exc.message}]
    for detail in exc.details[1:] if len(exc.details) > 1 else []:
        errors.append({"code": status,
                       "description": f"{detail.get('field')}: {detail.get('reason')}"})
    headers = None
    if isinstance(exc, RateLimited) and exc.details:
        headers = {"Retry-After": str(exc.details[0].get("retry_after_s", 3600))}
    return _render(fmt if fmt in FORMATS else "json", "errors", "error", errors, status,
                   headers)


def _open311(fmt: str, call: Callable[[], Response]) -> Response:
    """Run ``call`` and turn domain errors into the spec's error list."""
    try:
        if fmt not in FORMATS:
            raise NotFound(f"unknown format {fmt[:10]!r}: use .json or .xml")
        return call()
    except BeffroiError as exc:
        return _error(fmt, exc)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


# --- Open311 routes ----------------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="Open311 service discovery")
def discovery(fmt: Fmt, request: Request) -> Response:
    def run() -> Response:
        settings = get_services(request).settings
        base = settings.public_url.rstrip("/") + "/open311/v2/"
        doc = {"changeset": CHANGESET, "contact": settings.public_url,
               "key_service": "API keys are given by the territory's administrators "
                              "(docs/open311.md, API keys)",
               "endpoints": [{"specification": SPECIFICATION, "url": base,
                              "changeset": CHANGESET, "type": "production",
                              "formats": ["text/xml", "application/json"]}]}
        if fmt == "xml":
            top = ET.Element("discovery")
            _fill(top, doc)
            return Response(_xml_bytes(top), media_type=FORMATS["xml"])
        return Response(orjson.dumps(doc), media_type=FORMATS["json"],
                        headers={"X-Beffroi-Version": __version__})

    return _open311(fmt, run)


@router.get("/services.{fmt}", summary="GET Service List")
def services(fmt: Fmt, request: Request, jurisdiction_id: Jurisdiction = None,
             lang: Lang = None) -> Response:
    def run() -> Response:
        citizens = _citizens(request)
        code = citizens.jurisdiction(jurisdiction_id)
        items = [_dump(s) for s in citizens.services(code, _lang(request, lang))]
        return _render(fmt, "services", "service", items)

    return _open311(fmt, run)


@router.get("/services/{service_code}.{fmt}", summary="GET Service Definition")
def service_definition(service_code: str, fmt: Fmt, request: Request,
                       jurisdiction_id: Jurisdiction = None, lang: Lang = None) -> Response:
    def run() -> Response:
        citizens = _citizens(request)
        code = citizens.jurisdiction(jurisdiction_id)
        svc = citizens.service(code, service_code, _lang(request, lang))
        doc = {"service_code": svc.service_code, "attributes": []}
        if fmt == "xml":
            top = ET.Element("service_definition")
            _fill(top, doc)
            return Response(_xml_bytes(top), media_type=FORMATS["xml"])
        return Response(orjson.dumps(doc), media_type=FORMATS["json"])

    return _open311(fmt, run)


async def _form(request: Request) -> dict[str, str]:
    """The POST's fields: the query string's, then the url-encoded body's (which win).
    Personal data in the query string are refused: URLs end up in access logs."""
    fields = {k: v for k, v in request.query_params.items()}
    in_url = sorted(set(fields) & set(PERSONAL_FIELDS))
    if in_url:
        raise BadRequest(f"{', '.join(in_url)}: send personal data in the form body, not in "
                         "the URL (URLs are written to access logs)")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadRequest(f"the request body is larger than {MAX_BODY} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if body and ctype not in ("application/x-www-form-urlencoded", ""):
        raise BadRequest(f"unsupported content type {ctype[:60]!r}: send "
                         "application/x-www-form-urlencoded (a photo goes as media_url)")
    try:
        fields.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                strict_parsing=False, max_num_fields=100))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the form body cannot be read: {exc}") from None
    return fields


@router.post("/requests.{fmt}", summary="POST Service Request")
async def post_request(fmt: Fmt, request: Request) -> Response:
    """Form-encoded Open311 fields (``api_key``, ``jurisdiction_id``, ``service_code``,
    ``lat``/``long`` or ``address_string`` or ``address_id``, ``description``, ``email``,
    ``first_name``, ``last_name``, ``phone``, ``device_id``, ``account_id``, ``media_url``)."""
    if fmt not in FORMATS:
        return _error(fmt, NotFound(f"unknown format {fmt[:10]!r}: use .json or .xml"))
    try:
        fields = await _form(request)
        citizens = _citizens(request)

        def create() -> dict[str, Any]:
            code = citizens.jurisdiction(fields.get("jurisdiction_id") or None)
            client = citizens.authenticate(code, fields.get("api_key"))
            data = RequestIn(**{k: fields.get(k) for k in POST_FIELDS})
            remote = request.client.host if request.client else None
            return citizens.create_request(code, data, client, remote)

        created = await run_in_threadpool(create)
    except BeffroiError as exc:
        return _error(fmt, exc)
    return _render(fmt, "service_requests", "request", [created])


def _request_items(found: Sequence[ServiceRequestOut]) -> list[dict[str, Any]]:
    return [_dump(r) for r in found]


@router.get("/requests.{fmt}", summary="GET Service Requests")
def get_requests(fmt: Fmt, request: Request, jurisdiction_id: Jurisdiction = None,
                 service_request_id: str | None = None, service_code: str | None = None,
                 start_date: str | None = None, end_date: str | None = None,
                 status: str | None = None, lang: Lang = None) -> Response:
    def run() -> Response:
        citizens = _citizens(request)
        code = citizens.jurisdiction(jurisdiction_id)
        found = citizens.get_requests(
            code, ids=_split(service_request_id), service_codes=_split(service_code),
            statuses=_split(status),
            start_ms=None if not start_date else parse_w3c(start_date, "start_date"),
            end_ms=None if not end_date else parse_w3c(end_date, "end_date"),
            lang=_lang(request, lang))
        return _render(fmt, "service_requests", "request", _request_items(found))

    return _open311(fmt, run)


@router.get("/requests/{request_id}.{fmt}", summary="GET Service Request")
def get_request(request_id: str, fmt: Fmt, request: Request,
                jurisdiction_id: Jurisdiction = None, lang: Lang = None) -> Response:
    def run() -> Response:
        citizens = _citizens(request)
        code = citizens.jurisdiction(jurisdiction_id)
        found = citizens.get_request(code, request_id, _lang(request, lang))
        return _render(fmt, "service_requests", "request", _request_items([found]))

    return _open311(fmt, run)


@router.get("/tokens/{token}.{fmt}", summary="GET request_id from a token")
def get_token(token: str, fmt: Fmt, request: Request,
              jurisdiction_id: Jurisdiction = None) -> Response:
    def run() -> Response:
        _citizens(request).jurisdiction(jurisdiction_id)
        raise NotFound("no tokens here: this server is realtime, POST returns the "
                       "service_request_id at once")

    return _open311(fmt, run)


# --- control-room routes (/api/v1) -------------------------------------------------------------

Staff = Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR)]
Supervisor = Annotated[Principal, allow(Role.SUPERVISOR, Role.ADMINISTRATOR)]
REQUESTS = "/territories/{code}/service-requests"
CLIENTS = "/territories/{code}/open311-clients"


@admin_router.get(REQUESTS, tags=["service requests"])
def list_service_requests(code: str, request: Request, principal: Staff,
                          status: str | None = None, service_code: str | None = None,
                          start: str | None = None, end: str | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100
                          ) -> list[ServiceRequestAdmin]:
    """Residents' reports, newest first (never their authors' contact data)."""
    found = _citizens(request).get_requests(
        code, service_codes=_split(service_code), statuses=_split(status),
        start_ms=None if not start else parse_w3c(start, "start"),
        end_ms=None if not end else parse_w3c(end, "end"), limit=limit, admin=True)
    return [r for r in found if isinstance(r, ServiceRequestAdmin)]


@admin_router.get(REQUESTS + "/{request_id}", tags=["service requests"])
def get_service_request(code: str, request_id: str, request: Request, principal: Staff
                        ) -> ServiceRequestAdmin:
    return _citizens(request).get_request_admin(code, request_id)


@admin_router.put(REQUESTS + "/{request_id}/public-note", tags=["service requests"])
def publish_note(code: str, request_id: str, data: PublicNoteIn, request: Request,
                 principal: Staff) -> ServiceRequestOut:
    """Publish the note the resident (and everyone) sees as the request's status_notes."""
    return _citizens(request).publish_note(code, request_id, data.text, principal)


@admin_router.get(CLIENTS, tags=["service requests"])
def list_clients(code: str, request: Request, principal: Supervisor) -> list[ClientOut]:
    """The Open311 API keys of this territory (installation-wide ones: CLI only)."""
    citizens = _citizens(request)
    return [citizens.client_out(c) for c in citizens.list_clients(code)]


@admin_router.post(CLIENTS, status_code=201, tags=["service requests"])
def create_client(code: str, data: ClientIn, request: Request, principal: Supervisor
                  ) -> ClientCreated:
    """A client application's API key for this territory, shown once."""
    return _citizens(request).create_client(data.name, code, data.rate_per_hour,
                                            actor=principal.actor)


@admin_router.delete(CLIENTS + "/{client_id}", tags=["service requests"])
def revoke_client(code: str, client_id: int, request: Request, principal: Supervisor
                  ) -> ClientOut:
    citizens = _citizens(request)
    return citizens.client_out(citizens.revoke_client(client_id, code, actor=principal.actor))

