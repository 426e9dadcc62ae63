"""Public pages (no account): residents' report and follow-up pages, real-time information.

| URL | what |
|---|---|
| ``GET /public/{code}`` | real-time information: parking, air, traffic, works and incidents |
| ``GET /public/{code}/api/now`` | the same as JSON (``Cache-Control: public, max-age=60``, ETag) |
| ``GET /public/{code}/basemap`` | the offline base map of the territory (GeoJSON districts) |
| ``GET /public/{code}/report`` | the report form; ``POST`` sends it |
| ``GET /public/{code}/requests/{id}`` | the follow-up of a report: status, dates, public note |

Nothing here needs a session, nothing shows personal data: the resident's email goes to the
citizens service (Open311 backend) only, and the follow-up page shows the status, category,
dates and the operator's public note. The report form is rate-limited per client address
(``report_rate_per_hour``, a sliding window of one hour held in memory) and rejects obvious spam
(a honeypot field, a minimum fill time checked with a signed timestamp, too many links).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import hmac
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from beffroi.assets import repository as assets_repo
from beffroi.auth.models import SYSTEM
from beffroi.citizens.models import RequestIn
from beffroi.citizens.service import BBOX_MARGIN_DEG, RateLimited, SpamRejected
from beffroi.errors import BadRequest, BeffroiError, NotFound
from beffroi.web import app as web_app  # app.py imports this module: attributes used lazily
from beffroi.web import i18n
from beffroi.web.mapdata import extent

router = APIRouter(include_in_schema=False)

# Categories a resident may report (the Open311 services offered on the public form), and the
# categories of open incidents shown to the public (they affect people on the street).
RESIDENT_CATEGORIES = ("lamp-out", "lighting-section-out", "traffic-signal-fault",
                       "waste-overflow", "water-leak", "snow-ice", "parking",
                       "resident-report", "other")
PUBLIC_INCIDENT_CATEGORIES = ("lighting-section-out", "traffic-signal-fault",
                              "traffic-congestion", "snow-ice", "water-leak", "water-quality")

# Air quality: upper bounds (µg/m³) of the first five levels of the European Air Quality Index,
# which the French ATMO index (2021) shares; above the last bound, "extremely poor".
AIR_BANDS: dict[str, tuple[float, ...]] = {
    "pm25": (10, 20, 25, 50, 75),
    "pm10": (20, 40, 50, 100, 150),
    "no2": (40, 90, 120, 230, 340),
    "o3": (50, 100, 130, 240, 380),
}
AIR_LEVELS = ("good", "fair", "moderate", "poor", "very_poor", "extremely_poor")
TRAFFIC_STATES = ("free", "pre-saturated", "saturated", "blocked", "unknown")
STALE_MS = 2 * 3_600_000  # a live value older than this is not shown as current
NOW_TTL_S = 30.0  # the real-time summary is recomputed at most this often per territory
RATE_WINDOW_S = 3600.0
MIN_FILL_S = 3.0  # a form sent faster than this after it was shown is a robot's
MAX_FORM_AGE_S = 24 * 3600.0
MAX_LINKS = 2
DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 4000
EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']{2,}$")
LINK_RE = re.compile(r"https?://|www\.", re.IGNORECASE)


# --- state: the rate limiter, the form secret, the summary cache --------------------------------


class SlidingWindow:
    """Hits per key in the last ``window_s`` seconds (in memory, one process)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self.hits: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self.hits.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def allowed(self, key: str, limit: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self.lock:
            return len(self._prune(key, now)) < limit

    def hit(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            self._prune(key, now).append(now)
            if len(self.hits) > 10_000:  # forget idle addresses
                for k in [k for k, q in self.hits.items() if not q or q[-1] <= now
                          - self.window_s]:
                    del self.hits[k]


@dataclass
class PublicState:
    secret: bytes = field(default_factory=lambda: os.urandom(32))
    limiter: SlidingWindow = field(default_factory=SlidingWindow)
    min_fill_s: float = MIN_FILL_S
    now_cache: dict[str, tuple[float, bytes, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def public_state(request: Request) -> PublicState:
    app_state = request.app.state
    with contextlib.suppress(AttributeError):
        found: PublicState = app_state.public_pages
        return found
    created = PublicState()
    app_state.public_pages = created
    return created


# --- formatting (server side, in the territory's locale and time zone) -------------------------


def _is_fr(locale: str) -> bool:
    return str(locale).lower().startswith("fr")


def fmt_number(value: float | int | None, locale: str, digits: int = 0) -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    if _is_fr(locale):
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def fmt_time(ms: int | None, territory: Any) -> str:
    return i18n.format_ms(ms, territory.timezone, "fr" if _is_fr(territory.locale) else "en")


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def air_level(metric: str, value: float | None) -> str | None:
    bands = AIR_BANDS.get(metric)
    if bands is None or value is None:
        return None
    for level, bound in zip(AIR_LEVELS, bands, strict=False):
        if value <= bound:
            return level
    return AIR_LEVELS[-1]


def _worst(levels: list[str | None]) -> str | None:
    known = [AIR_LEVELS.index(x) for x in levels if x is not None]
    return AIR_LEVELS[max(known)] if known else None


# --- the real-time summary ------------------------------------------------------------------------


def _assets(services: Any, code: str, type_: str) -> list[Any]:
    out: list[Any] = []
    cursor: str | None = None
    while True:
        page = services.registry.list_assets(code, assets_repo.AssetFilter(type=type_), cursor,
                                             1000)
        out.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return out


def _latest(services: Any, code: str, type_: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        body = services.telemetry.latest(code, None, assets_repo.AssetFilter(type=type_),
                                         cursor, 1000)
        for item in body["items"]:
            out[item["asset"]] = item["values"]
        cursor = body.get("next_cursor")
        if not cursor:
            return out


def _point(asset: Any) -> tuple[float | None, float | None]:
    geometry = asset.geometry or {}
    if geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return float(lon), float(lat)
    return None, None


def _value(values: dict[str, Any], metric: str, now: int) -> tuple[Any, int | None]:
    """(value, time in ms) of a live value, ``(None, None)`` when missing or stale."""
    v = values.get(metric)
    if not v:
        return None, None
    ts = _ms(v.get("ts"))
    if ts is None or now - ts > STALE_MS:
        return None, ts
    return v.get("value"), ts


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _parking(services: Any, code: str, now: int) -> list[dict[str, Any]]:
    latest = _latest(services, code, "OffStreetParking")
    rows = []
    for a in _assets(services, code, "OffStreetParking"):
        values = latest.get(a.id, {})
        available, ts = _value(values, "availableSpotNumber", now)
        occupied, _ = _value(values, "occupiedSpotNumber", now)
        occupancy, _ = _value(values, "occupancy", now)
        status, _ = _value(values, "status", now)
        props = a.properties or {}
        total = _number(props.get("total_spots")) or _number(props.get("capacity"))
        if total is None and _number(available) is not None and _number(occupied) is not None:
            total = float(available) + float(occupied)
        occ = _number(occupancy)
        if occ is None and total and _number(available) is not None:
            occ = max(0.0, min(1.0, 1 - float(available) / total))
        if status is None and _number(available) is not None:
            status = "full" if float(available) <= 0 else "open"
        lon, lat = _point(a)
        rows.append({"id": a.id, "name": a.name or a.id, "lon": lon, "lat": lat,
                     "available": int(available) if _number(available) is not None else None,
                     "total": int(total) if total is not None else None,
                     "occupancy": round(occ, 3) if occ is not None else None,
                     "status": status if isinstance(status, str) else None,
                     "updated": _iso(ts) if ts is not None else None})
    rows.sort(key=lambda r: str(r["name"]))
    return rows


def _today_start(now: int, timezone: str) -> int:
    local = datetime.fromtimestamp(now / 1000, ZoneInfo(timezone))
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def _air(services: Any, code: str, now: int, timezone: str) -> dict[str, Any]:
    latest = _latest(services, code, "AirQualityObserved")
    start = _today_start(now, timezone)
    stations = []
    for a in _assets(services, code, "AirQualityObserved"):
        values = latest.get(a.id, {})
        pollutants: dict[str, Any] = {}
        newest: int | None = None
        for metric in AIR_BANDS:
            if metric not in values:
                continue
            value, ts = _value(values, metric, now)
            today_max: float | None = None
            with contextlib.suppress(BeffroiError):
                hist = services.telemetry.history(code, a.id, metric, "raw", start, now + 1,
                                                  10_000)
                numbers = [p["value"] for p in hist["points"] if _number(p["value"]) is not None]
                today_max = float(max(numbers)) if numbers else None
            number = _number(value)
            pollutants[metric] = {
                "value": round(number, 1) if number is not None else None, "unit": "µg/m³",
                "level": air_level(metric, number), "today_max": round(today_max, 1)
                if today_max is not None else None,
                "today_level": air_level(metric, today_max)}
            if ts is not None and number is not None:
                newest = max(newest or ts, ts)
        lon, lat = _point(a)
        stations.append({"id": a.id, "name": a.name or a.id, "lon": lon, "lat": lat,
                         "level": _worst([p["level"] for p in pollutants.values()]),
                         "today_level": _worst([p["today_level"] for p in pollutants.values()]),
                         "pollutants": pollutants,
                         "updated": _iso(newest) if newest is not None else None})
    stations.sort(key=lambda r: str(r["name"]))
    return {"level": _worst([s["level"] for s in stations]),
            "today_level": _worst([s["today_level"] for s in stations]),
            "stations": stations}


def _traffic(services: Any, code: str, now: int) -> dict[str, Any]:
    latest = _latest(services, code, "TrafficFlowObserved")
    counts = dict.fromkeys(TRAFFIC_STATES, 0)
    newest: int | None = None
    total = 0
    for values in latest.values():
        total += 1
        state, ts = _value(values, "trafficState", now)
        key = state if isinstance(state, str) and state in counts else "unknown"
        counts[key] += 1
        if ts is not None and key != "unknown":
            newest = max(newest or ts, ts)
    known = sum(n for k, n in counts.items() if k != "unknown")
    shares = {k: round(n / known, 3) if known and k != "unknown" else None
              for k, n in counts.items()}
    return {"counters": total, "states": counts, "shares": shares,
            "updated": _iso(newest) if newest is not None else None}


def _incidents(services: Any, code: str) -> list[dict[str, Any]]:
    categories = {c.code: c for c in services.operations.list_categories(code, SYSTEM)}
    out = []
    names: dict[str, Any] = {}
    cursor: str | None = None
    found: list[Any] = []
    for _ in range(10):  # at most 5,000 open incidents looked at
        page = services.operations.list_incidents(code, SYSTEM, state="open", cursor=cursor,
                                                  limit=500)
        found.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    for inc in found:
        if inc.category not in PUBLIC_INCIDENT_CATEGORIES:
            continue
        cat = categories.get(inc.category)
        place, lon, lat = None, None, None
        if inc.asset:
            if inc.asset not in names:
                try:
                    names[inc.asset] = services.registry.get_asset(code, inc.asset)
                except NotFound:
                    names[inc.asset] = None
            asset = names[inc.asset]
            if asset is not None:
                place = asset.name
                lon, lat = _point(asset)
        out.append({"id": inc.id, "category": inc.category,
                    "title_fr": cat.title_fr if cat else inc.category,
                    "title_en": cat.title_en if cat else inc.category,
                    "place": place, "lon": lon, "lat": lat,
                    "since": inc.timestamps.get("reported"),
                    "acknowledged": inc.state != "reported"})
    out.sort(key=lambda r: str(r["since"] or ""), reverse=True)
    return out


def summary(services: Any, code: str) -> dict[str, Any]:
    """The public real-time summary of a territory (language-neutral: codes, not words)."""
    territory = services.registry.get_territory(code)
    now = int(services.clock())
    return {
        "territory": {"code": territory.code, "name": territory.name,
                      "timezone": territory.timezone, "locale": territory.locale},
        "generated": _iso(now),
        "parking": _parking(services, code, now),
        "air": _air(services, code, now, territory.timezone),
        "traffic": _traffic(services, code, now),
        "incidents": _incidents(services, code),
    }


def _cached_summary(request: Request, code: str) -> tuple[bytes, str]:
    """(JSON, ETag) of the summary, recomputed at most every ``NOW_TTL_S`` seconds."""
    state = public_state(request)
    services = web_app.web_state(request).services
    hit = state.now_cache.get(code)
    if hit is not None and time.monotonic() - hit[0] < NOW_TTL_S:
        return hit[1], hit[2]
    raw = orjson.dumps(summary(services, code))
    etag = '"' + hashlib.sha256(raw).hexdigest()[:24] + '"'
    with state.lock:
        state.now_cache[code] = (time.monotonic(), raw, etag)
    return raw, etag


# --- pages ---------------------------------------------------------------------------------------


def _page(request: Request, code: str | None) -> web_app.Page:
    """A page without a session; with ``code``, the territory (404 when unknown)."""
    web = web_app.web_state(request)
    page = web_app.Page(request, web, None)
    if code is not None:
        page.territory = web.services.registry.get_territory(code)
    return page


def _render(page: web_app.Page, template: str, status: int = 200, **context: Any
            ) -> HTMLResponse:
    code = page.territory.code if page.territory is not None else None
    config = {"public_code": code, **context.pop("config", {})}
    response = page.render(template, status=status, public_code=code,
                           lang_query="?lang=" + page.lang, config=config, **context)
    return response


def _error(request: Request, exc: BeffroiError) -> HTMLResponse:
    page = _page(request, None)
    key = "public.not_found" if isinstance(exc, NotFound) else "public.error"
    return _render(page, "public_error.html", status=exc.status, message=page.t(key))


Handler = Callable[..., Response]


def _html_errors(fn: Handler) -> Handler:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except BeffroiError as exc:
            return _error(kwargs["request"], exc)

    return wrapper


def _level_words(page: web_app.Page) -> dict[str, str]:
    return {lv: page.t("public.air." + lv) for lv in AIR_LEVELS}


@router.get("/public/{code}")
@_html_errors
def now_page(request: Request, code: str) -> Response:
    page = _page(request, code)
    raw, _ = _cached_summary(request, code)
    data = orjson.loads(raw)
    territory = page.territory
    locale = territory.locale

    def when(iso: str | None) -> str:
        return fmt_time(_ms(iso), territory)

    for p in data["parking"]:
        p["available_text"] = fmt_number(p["available"], locale)
        p["total_text"] = fmt_number(p["total"], locale)
        p["occupancy_text"] = (fmt_number(p["occupancy"] * 100, locale) + "\u00a0%"
                               if p["occupancy"] is not None else "—")
        p["status_text"] = page.t("public.parking.status." + (p["status"] or "unknown"))
        p["updated_text"] = when(p["updated"])
    for s in data["air"]["stations"]:
        s["updated_text"] = when(s["updated"])
        for v in s["pollutants"].values():
            v["value_text"] = fmt_number(v["value"], locale)
            v["max_text"] = fmt_number(v["today_max"], locale)
    traffic = data["traffic"]
    traffic["share_text"] = {k: (fmt_number(v * 100, locale) + "\u00a0%") if v is not None
                             else "—" for k, v in traffic["shares"].items()}
    traffic["updated_text"] = when(traffic["updated"])
    for inc in data["incidents"]:
        inc["title"] = inc["title_fr"] if page.lang == "fr" else inc["title_en"]
        inc["since_text"] = when(inc["since"])
    points = [{"kind": "parking", "name": p["name"], "lon": p["lon"], "lat": p["lat"],
               "label": f'{p["available_text"]} {page.t("public.parking.spaces")}'}
              for p in data["parking"] if p["lon"] is not None]
    points += [{"kind": "air", "name": s["name"], "lon": s["lon"], "lat": s["lat"],
                "label": page.t("public.air." + s["level"]) if s["level"] else "—"}
               for s in data["air"]["stations"] if s["lon"] is not None]
    points += [{"kind": "incident", "name": i["title"], "lon": i["lon"], "lat": i["lat"],
                "label": i["place"] or ""} for i in data["incidents"] if i["lon"] is not None]
    center = territory.center
    return _render(page, "public_now.html", data=data, levels=_level_words(page),
                   pollutants=list(AIR_BANDS), traffic_states=TRAFFIC_STATES,
                   generated_text=when(data["generated"]),
                   config={"points": points, "center": center})


@router.get("/public/{code}/api/now")
def now_api(request: Request, code: str) -> Response:
    """The real-time summary as JSON; public, cacheable for a minute."""
    try:
        raw, etag = _cached_summary(request, code)
    except BeffroiError as exc:
        return Response(orjson.dumps(exc.to_dict()), status_code=exc.status,
                        media_type="application/json")
    headers = {"Cache-Control": "public, max-age=60", "ETag": etag,
               "Access-Control-Allow-Origin": "*", "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    if len(raw) > 2048 and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(gzip.compress(raw, 5), media_type="application/json", headers=headers)
    return Response(raw, media_type="application/json", headers=headers)


@router.get("/public/{code}/basemap")
def basemap(request: Request, code: str) -> Response:
    """The base map the control room uses (district polygons or footprint), without a
    session: it holds no more than the territory's outline."""
    web = web_app.web_state(request)
    try:
        snap = web.cache.get(web.services.registry.territory_id(code))
    except BeffroiError as exc:
        return Response(orjson.dumps(exc.to_dict()), status_code=exc.status,
                        media_type="application/json")
    response = web_app._compressed(request, web.basemaps.for_extent(extent(snap), snap))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# --- the report form -----------------------------------------------------------------------------


def _categories(services: Any, code: str, lang: str) -> list[dict[str, str]]:
    out = []
    for c in services.operations.list_categories(code, SYSTEM):
        if c.code in RESIDENT_CATEGORIES or c.post == "citizen":
            out.append({"code": c.code, "title": c.title_fr if lang == "fr" else c.title_en})
    order = {c: i for i, c in enumerate(RESIDENT_CATEGORIES)}
    out.sort(key=lambda c: (order.get(c["code"], len(order)), c["title"]))
    return out


def _token(state: PublicState, code: str, at: float | None = None) -> str:
    issued = int((time.time() if at is None else at) * 1000)
    sig = hmac.new(state.secret, f"{code}.{issued}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{issued}.{sig}"


def _token_age(state: PublicState, code: str, token: str) -> float | None:
    """Seconds since the form was shown, or None when the token is not ours."""
    issued, _, sig = token.partition(".")
    if not issued.isdigit():
        return None
    good = hmac.new(state.secret, f"{code}.{issued}".encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(good, sig):
        return None
    return time.time() - int(issued) / 1000


def _form_page(request: Request, code: str, status: int = 200,
               values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               alert: str | None = None) -> HTMLResponse:
    page = _page(request, code)
    web = web_app.web_state(request)
    settings = web.services.settings
    snap = web.cache.get(web.services.registry.territory_id(code))
    return _render(
        page, "public_report.html", status=status,
        categories=_categories(web.services, code, page.lang), values=values or {},
        errors=errors or {}, alert=alert, token=_token(public_state(request), code),
        retention_days=settings.citizen_contact_retention_days,
        config={"extent": extent(snap), "center": page.territory.center})


@router.get("/public/{code}/report")
@_html_errors
def report_page(request: Request, code: str) -> Response:
    return _form_page(request, code)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _validate(values: dict[str, str], allowed: set[str],
              extent: tuple[float, float, float, float] | None) -> dict[str, str]:
    """Errors per field (message keys)."""
    errors: dict[str, str] = {}
    if values["category"] not in allowed:
        errors["category"] = "public.report.err.category"
    lat = lon = None
    if values["lat"] or values["long"]:
        try:
            lat, lon = float(values["lat"]), float(values["long"])
        except ValueError:
            errors["location"] = "public.report.err.location"
        else:
            if extent is not None:
                x0, y0, x1, y1 = extent
                pad = BBOX_MARGIN_DEG
                if not (x0 - pad <= lon <= x1 + pad and y0 - pad <= lat <= y1 + pad):
                    errors["location"] = "public.report.err.outside"
            elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
                errors["location"] = "public.report.err.location"
    elif len(values["address"]) < 5:
        errors["location"] = "public.report.err.location"
    if len(values["address"]) > 300:
        errors["location"] = "public.report.err.address_long"
    text = values["description"]
    if len(text) < DESCRIPTION_MIN:
        errors["description"] = "public.report.err.description_short"
    elif len(text) > DESCRIPTION_MAX:
        errors["description"] = "public.report.err.description_long"
    if values["email"] and (len(values["email"]) > 254 or not EMAIL_RE.match(values["email"])):
        errors["email"] = "public.report.err.email"
    return errors


def _robot(state: PublicState, code: str, form: dict[str, list[str]]) -> str | None:
    """The message key of a sure sign of a robot (checked first), or None."""
    if any(v.strip() for v in form.get("website", [])):
        return "public.report.spam.honeypot"
    age = _token_age(state, code, (form.get("started") or [""])[0])
    if age is None or age > MAX_FORM_AGE_S:
        return "public.report.spam.expired"
    return None


def _spam(state: PublicState, code: str, form: dict[str, list[str]], description: str
          ) -> str | None:
    """The message key of an obvious-spam reason in a valid form, or None."""
    age = _token_age(state, code, (form.get("started") or [""])[0])
    if age is not None and age < state.min_fill_s:
        return "public.report.spam.too_fast"
    if len(LINK_RE.findall(description)) > MAX_LINKS:
        return "public.report.spam.links"
    return None


def create_report(services: Any, code: str, values: dict[str, str], client: str) -> str:
    """Store the report through the citizens service (source "web", no API key); its public
    id. The service validates again, rate-limits per address and opens the incident."""
    data = RequestIn(service_code=values["category"], description=values["description"],
                     lat=values["lat"] or None, long=values["long"] or None,
                     address_string=values["address"] or None, email=values["email"] or None)
    result = services.citizens.create_request(code, data, None, client, source="web")
    return str(result["service_request_id"])


def get_report(services: Any, code: str, request_id: str, lang: str) -> dict[str, Any]:
    """The public view of a request: status (open|closed), service, dates, public note."""
    found = services.citizens.get_request(code, request_id, lang=lang)
    return {"id": found.service_request_id,
            "status": "closed" if found.status == "closed" else "open",
            "service_code": found.service_code, "service_name": found.service_name,
            "note": found.status_notes or "",
            "requested": found.requested_datetime, "updated": found.updated_datetime}


# Fields of the citizens service's validation errors → fields of the form.
BACKEND_FIELDS = {"service_code": "category", "description": "description", "lat": "location",
                  "long": "location", "address_string": "location", "email": "email"}
FIELD_MESSAGES = {"category": "public.report.err.category",
                  "description": "public.report.err.description_short",
                  "location": "public.report.err.location", "email": "public.report.err.email"}


@router.post("/public/{code}/report")
async def report_submit(request: Request, code: str) -> Response:
    if not web_app._same_origin(request):
        return Response("cross-site request refused", status_code=403)
    services = web_app.web_state(request).services
    state = public_state(request)
    try:
        await run_in_threadpool(services.registry.get_territory, code)
    except BeffroiError as exc:
        return _error(request, exc)
    raw = (await request.body())[:64_000]
    form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)

    def one(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    values = {k: one(k) for k in ("category", "lat", "long", "address", "description",
                                  "email")}
    lang = i18n.resolve_lang(request)[0]
    client = _client(request)
    limit = int(services.settings.report_rate_per_hour)
    if not state.limiter.allowed(client, limit):
        return await run_in_threadpool(
            _form_page, request, code, 429, values, None,
            i18n.t("public.report.rate_limited", lang, n=limit))
    robot = _robot(state, code, form)
    if robot is not None:
        state.limiter.hit(client)
        return await run_in_threadpool(_form_page, request, code, 400, values, None,
                                       i18n.t(robot, lang))

    def check() -> dict[str, str]:
        web = web_app.web_state(request)
        snap = web.cache.get(services.registry.territory_id(code))
        allowed = {c["code"] for c in _categories(services, code, lang)}
        return _validate(values, allowed, extent(snap))

    errors = await run_in_threadpool(check)
    if errors:
        return await run_in_threadpool(
            _form_page, request, code, 422, values,
            {k: i18n.t(v, lang) for k, v in errors.items()},
            i18n.t("public.report.err.summary", lang))
    state.limiter.hit(client)
    spam = _spam(state, code, form, values["description"])
    if spam is not None:
        return await run_in_threadpool(_form_page, request, code, 400, values, None,
                                       i18n.t(spam, lang))
    try:
        request_id = await run_in_threadpool(create_report, services, code, values, client)
    except RateLimited:
        return await run_in_threadpool(
            _form_page, request, code, 429, values, None,
            i18n.t("public.report.rate_limited", lang, n=limit))
    except SpamRejected:
        return await run_in_threadpool(_form_page, request, code, 400, values, None,
                                       i18n.t("public.report.spam.content", lang))
    except BadRequest as exc:
        fields = {BACKEND_FIELDS.get(str(d.get("field")), "location")
                  for d in (exc.details or [])} or {"location"}
        if "outside" in exc.message or any("outside" in str(d.get("reason"))
                                             for d in exc.details or []):
            found = {"location": i18n.t("public.report.err.outside", lang)}
        else:
            found = {f: i18n.t(FIELD_MESSAGES[f], lang) for f in sorted(fields)}
        return await run_in_threadpool(_form_page, request, code, 422, values, found,
                                       i18n.t("public.report.err.summary", lang))
    except BeffroiError as exc:
        return _error(request, exc)
    target = f"/public/{quote(code)}/requests/{quote(request_id)}?new=1&lang={lang}"
    return RedirectResponse(target, status_code=303)


@router.get("/public/{code}/requests/{request_id}")
@_html_errors
def request_page(request: Request, code: str, request_id: str, new: str | None = None
                 ) -> Response:
    page = _page(request, code)
    services = web_app.web_state(request).services
    report = get_report(services, code, request_id, page.lang)
    name = report["service_name"] or report["service_code"]
    status = "closed" if report["status"] == "closed" else "open"
    return _render(page, "public_request.html", report=report, category=name or "—",
                   state=status, status_text=page.t("public.request.status." + status),
                   requested_text=fmt_time(_ms(report["requested"]), page.territory),
                   updated_text=fmt_time(_ms(report["updated"]), page.territory),
                   new=bool(new))
