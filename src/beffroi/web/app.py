"""Mounts the web UI on the application: server-rendered pages (Jinja2), their static files
(vendored from npm, served compressed), the map's clustering API and the live stream (SSE).

Pages live under ``/`` and need a session (else a redirect to ``/login``); their scripts read
and write through the ``/api/v1`` routes, with the session cookie.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import mimetypes
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import orjson
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from beffroi.api.deps import Services, get_services, parse_bbox
from beffroi.api.responses import JSONBody
from beffroi.assets.types import ASSET_TYPES, CONTROL_POSTS, DOMAINS, UNITS
from beffroi.auth.access import READERS, allow, check, current_principal
from beffroi.auth.models import Principal, Role
from beffroi.auth.service import SESSION_COOKIE, SESSION_TTL_MS
from beffroi.errors import BeffroiError, Forbidden, NotFound, ValidationFailed, field_error
from beffroi.web import i18n, public
from beffroi.web import repository as repo
from beffroi.web.live import ChangeHub
from beffroi.web.mapdata import (
    BaseMaps,
    MapCache,
    MapQuery,
    area_of,
    clusters,
    extent,
    state_of_urn,
)

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
HANDLERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR})
READER_SET = frozenset(READERS)
PING_S = 5.0  # an idle live stream sends a comment this often (proxies keep it open)
STREAM_MAX_S = 600.0  # a stream ends after this long; the browser reconnects at once
STATES_EVERY_S = 15.0  # the map's states are refreshed at least this often


@dataclass
class WebState:
    services: Services
    templates: Jinja2Templates
    cache: MapCache
    basemaps: BaseMaps
    tile_url: str | None
    hub: ChangeHub
    static_cache: dict[str, tuple[bytes, bytes | None, str, str]] = field(default_factory=dict)


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


# --- static files -------------------------------------------------------------------------------


def _static(state: WebState, path: str, accept: str, if_none_match: str | None) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC.resolve()) or not target.is_file():
        return Response(status_code=404)
    entry = state.static_cache.get(path)
    if entry is None:
        body = target.read_bytes()
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix in (".js", ".mjs"):
            media = "text/javascript"
        elif target.suffix == ".geojson":
            media = "application/geo+json"
        zipped = gzip.compress(body, 6) if len(body) > 1024 and not media.startswith(
            "image/") else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        entry = (body, zipped, media, etag)
        state.static_cache[path] = entry
    body, zipped, media, etag = entry
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    if zipped is not None and "gzip" in accept:
        headers["Content-Encoding"] = "gzip"
        return Response(zipped, media_type=media, headers=headers)
    return Response(body, media_type=media, headers=headers)


# --- pages --------------------------------------------------------------------------------------


class Redirect(Exception):
    def __init__(self, url: str) -> None:
        self.url = url


def _principal_or_login(request: Request) -> Principal:
    try:
        return current_principal(request)
    except BeffroiError as exc:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise Redirect(f"/login?next={quote(target)}") from exc


def _territories(services: Services, principal: Principal) -> list[dict[str, str]]:
    if principal.superuser:
        page = services.registry.list_territories(None, 1000)
        return [{"code": t.code, "name": t.name} for t in page.items]
    out = []
    for code in sorted(principal.grants):
        try:
            out.append({"code": code, "name": services.registry.get_territory(code).name})
        except NotFound:
            continue
    return out


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    return urlsplit(origin).netloc == request.headers.get("host")


def _safe_next(value: str | None) -> str | None:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


class Page:
    """What every page template gets."""

    def __init__(self, request: Request, state: WebState, principal: Principal | None,
                 code: str | None = None) -> None:
        self.request = request
        self.state = state
        self.lang, self.remember = i18n.resolve_lang(request)
        self.principal = principal
        self.code = code
        self.territory: Any = None
        self.role: Role | None = None
        if principal is not None and code is not None:
            self.territory = state.services.registry.get_territory(code)
            self.role = principal.role_in(code)

    def t(self, key: str, **values: object) -> str:
        return i18n.t(key, self.lang, **values)

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        posts = self.principal.posts_in(self.code) if self.principal and self.code else None
        config = {
            "lang": self.lang,
            "territory": self.code,
            "locale": self.territory.locale if self.territory else self.lang,
            "timezone": self.territory.timezone if self.territory else "Europe/Paris",
            "role": self.role.value if self.role else None,
            "can_handle": self.role in HANDLERS if self.role else False,
            "posts": sorted(posts) if posts is not None else None,
            "user": self.principal.name if self.principal else None,
            "tile_url": self.state.tile_url,
            **context.pop("config", {}),
        }
        ctx = {
            "request": self.request, "p": self, "t": self.t, "lang": self.lang,
            "territory": self.territory, "code": self.code, "role": self.role,
            "principal": self.principal, "config_json": _script_json(config),
            "messages_json": _script_json(i18n.catalogue(self.lang)),
            "territories": _territories(self.state.services, self.principal)
            if self.principal else [],
            "other_lang": "en" if self.lang == "fr" else "fr",
            "path": self.request.url.path,
            **context,
        }
        response = self.state.templates.TemplateResponse(self.request, template, ctx,
                                                         status_code=status)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if self.remember:
            response.set_cookie(i18n.LANG_COOKIE, self.lang, max_age=365 * 86400,
                                samesite="lax", path="/")
        return response


def _script_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no ``<!--``)."""
    text = orjson.dumps(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _territory_page(request: Request, code: str) -> Page:
    state = web_state(request)
    principal = _principal_or_login(request)
    check(principal, READER_SET | {Role.ADMINISTRATOR}, code)
    return Page(request, state, principal, code)


def _error_page(request: Request, exc: BeffroiError) -> HTMLResponse:
    state = web_state(request)
    page = Page(request, state, getattr(request.state, "principal", None))
    key = "common.forbidden" if isinstance(exc, Forbidden) else (
        "common.not_found" if isinstance(exc, NotFound) else "common.error")
    return page.render("error.html", status=exc.status, message=page.t(key, m=exc.message))


pages = APIRouter(include_in_schema=False)

Handler = Callable[..., Response]


def html_errors(fn: Handler) -> Handler:
    """Pages answer domain errors (403, 404…) with an HTML page, not the API's JSON."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return fn(*args, **kwargs)
        except BeffroiError as exc:
            return _error_page(kwargs["request"], exc)

    return wrapper


@pages.get("/")
def home(request: Request, territory: str | None = None) -> Response:
    """The first territory's map (or the one chosen in the switcher's form)."""
    try:
        principal = current_principal(request)
    except BeffroiError:
        return RedirectResponse("/login", status_code=303)
    found = _territories(web_state(request).services, principal)
    if territory and any(f["code"] == territory for f in found):
        return RedirectResponse(f"/t/{quote(territory)}/map", status_code=303)
    if not found:
        return RedirectResponse("/login?error=no_territory", status_code=303)
    return RedirectResponse(f"/t/{found[0]['code']}/map", status_code=303)


@pages.get("/login")
def login_page(request: Request, next: str | None = None, error: str | None = None
               ) -> HTMLResponse:
    page = Page(request, web_state(request), None)
    message = None
    if error == "failed":
        message = page.t("login.failed")
    elif error == "no_territory":
        message = page.t("login.no_territory")
    return page.render("login.html", status=401 if error == "failed" else 200,
                       next=_safe_next(next) or "", error=message)


@pages.post("/login")
async def login_submit(request: Request) -> Response:
    if not _same_origin(request):
        return Response("cross-site request refused", status_code=403)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    target = _safe_next((form.get("next") or [""])[0])
    services = web_state(request).services
    try:
        if not username or not password:
            raise ValidationFailed("missing", [field_error("username", "required")])
        secret, principal = await run_in_threadpool(services.auth.login, username, password)
    except BeffroiError:
        page = Page(request, web_state(request), None)
        return page.render("login.html", status=401, next=target or "",
                           error=page.t("login.failed"), username=username)
    found = _territories(services, principal)
    if target is None:
        target = f"/t/{found[0]['code']}/map" if found else "/login?error=no_territory"
    if found:
        with contextlib.suppress(BeffroiError):
            web_state(request).cache.warm(services.registry.territory_id(found[0]["code"]))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=SESSION_TTL_MS // 1000, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https", path="/")
    return response


@pages.post("/logout")
def logout(request: Request) -> Response:
    if not _same_origin(request):
        return Response("cross-site request refused", status_code=403)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        web_state(request).services.auth.logout(cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@pages.get("/t/{code}")
def territory_home(code: str) -> Response:
    return RedirectResponse(f"/t/{code}/map", status_code=303)


def _post_names(page: Page) -> list[dict[str, str]]:
    code, lang = page.code or "", page.lang
    try:
        assert page.principal is not None
        posts = page.state.services.operations.list_posts(code, page.principal)
        return [{"code": p.code, "name": p.name_fr if lang == "fr" else p.name_en}
                for p in posts]
    except BeffroiError:
        return [{"code": c, "name": c} for c in CONTROL_POSTS]


def _by_code(posts: list[dict[str, str]]) -> dict[str, str]:
    """Post code → name (what the pages' scripts show instead of codes)."""
    return {p["code"]: p["name"] for p in posts}


@pages.get("/t/{code}/map")
@html_errors
def map_page(request: Request, code: str) -> Response:
    page = _territory_page(request, code)
    # The extent only: the page does not wait for the state snapshot (its clustering
    # request will, if it is still being built).
    ext = page.state.cache.extent(page.state.services.registry.territory_id(code))
    center = page.territory.center
    return page.render(
        "map.html", domains=DOMAINS, types=sorted(ASSET_TYPES),
        posts=_post_names(page), states=repo.STATES,
        config={"extent": ext, "center": center})


@pages.get("/t/{code}/alarms")
@html_errors
def alarms_page(request: Request, code: str) -> Response:
    page = _territory_page(request, code)
    posts = _post_names(page)
    return page.render("alarms.html", posts=posts, config={"post_names": _by_code(posts)})


@pages.get("/t/{code}/incidents")
@html_errors
def incidents_page(request: Request, code: str) -> Response:
    page = _territory_page(request, code)
    assert page.principal is not None
    categories: list[dict[str, Any]] = []
    try:
        categories = [{"code": c.code, "title": c.title_fr if page.lang == "fr" else c.title_en,
                       "post": c.post, "sla": c.sla_minutes}
                      for c in page.state.services.operations.list_categories(
                          code, page.principal)]
    except BeffroiError:
        categories = []
    posts = _post_names(page)
    return page.render("incidents.html", posts=posts, categories=categories,
                       config={"categories": categories,
                               "post_names": _by_code(posts)})


@pages.get("/t/{code}/work-orders")
@html_errors
def work_orders_page(request: Request, code: str) -> Response:
    """The territory's work orders (a field agent's own), filterable by post and state;
    each links to its incident on the board."""
    page = _territory_page(request, code)
    posts = _post_names(page)
    return page.render("work_orders.html", posts=posts,
                       config={"post_names": _by_code(posts)})


@pages.get("/t/{code}/assets/{urn}")
@html_errors
def asset_page(request: Request, code: str, urn: str) -> Response:
    page = _territory_page(request, code)
    asset = page.state.services.registry.get_asset(code, urn)
    series = page.state.services.registry.list_series(code, urn)
    snap = page.state.cache.get(page.state.services.registry.territory_id(code))
    post_name = _by_code(_post_names(page)).get(asset.control_post or "", asset.control_post)
    return page.render(
        "asset.html", asset=asset, state=state_of_urn(snap, asset.id), post_name=post_name,
        series=[{"metric": s.metric, "unit": UNITS.get(s.unit, s.unit), "kind": s.kind}
                for s in series],
        config={"asset": asset.id, "asset_post": asset.control_post,
                "series": [{"metric": s.metric, "unit": UNITS.get(s.unit, s.unit),
                            "kind": s.kind, "stored": s.latest is not None}
                           for s in series]})


KPI_READERS = frozenset({Role.VIEWER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR})


def _sparkline(values: list[float | None], lang: str, fmt: Callable[[float | None], str]
               ) -> str:
    """A small inline SVG of a series of values (gaps for missing ones), labelled for
    screen readers."""
    known = [v for v in values if v is not None]
    if len(known) < 2:
        return ""
    lo, hi = min(known), max(known)
    span = (hi - lo) or 1.0
    w, h, n = 120, 28, len(values)
    points: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            points.append([])
            continue
        x = 2 + (w - 4) * i / max(n - 1, 1)
        y = h - 3 - (h - 6) * (v - lo) / span
        points[-1].append(f"{x:.1f},{y:.1f}")
    lines = "".join(f'<polyline points="{" ".join(p)}" fill="none" stroke="currentColor" '
                    f'stroke-width="1.5"/>' for p in points if len(p) > 1)
    label = i18n.t("kpi.trend_label", lang, n=n, a=fmt(known[0]), b=fmt(known[-1]))
    return (f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="{label}"><title>{label}</title>{lines}</svg>')


@pages.get("/t/{code}/indicators")
@html_errors
def indicators_page(request: Request, code: str) -> Response:
    from beffroi.indicators.explain import number

    page = _territory_page(request, code)
    assert page.principal is not None
    check(page.principal, KPI_READERS, code)
    service = page.state.services.indicators
    locale = "fr" if str(page.territory.locale).startswith("fr") else "en"
    stored: dict[tuple[str, str], list[Any]] = {}
    for v in service.values(code, limit=50_000):
        stored.setdefault((v.code, v.window.period), []).append(v)
    rows = []
    for ind in service.definitions(code):
        if not ind.active:
            continue
        history = sorted(stored.get((ind.code, ind.period), []), key=lambda v: v.window.start_ms)
        last = history[-1] if history else None

        def fmt(x: float | None, unit: str = ind.unit) -> str:
            return f"{number(x, locale)}\u00a0{unit}" if x is not None else "—"

        rows.append({
            "code": ind.code, "name": ind.label(page.lang),
            "label": last.window.label if last else None,
            "value": fmt(last.value) if last and last.value is not None else None,
            "provisional": bool(last and last.lineage.window.get("provisional")),
            "target": f"{ind.target.comparator} {fmt(ind.target.value)}" if ind.target else "",
            "met": last.met if last else None,
            "spark": _sparkline([v.value for v in history[-12:]], page.lang, fmt),
            "href": f"/t/{code}/indicators/{quote(ind.code)}/{quote(last.window.label)}"
                    if last else None})
    contracts = []
    for c in service.contracts(code):
        now_year = time.gmtime().tm_year
        start_year = int(c.start[:4])
        contracts.append({"code": c.code, "title": c.title, "start": c.start,
                          "years": c.years,
                          "year": max(1, min(c.years, now_year - start_year + 1))})
    return page.render("indicators.html", rows=rows, contracts=contracts)


@pages.get("/t/{code}/indicators/{indicator}/{label}")
@html_errors
def indicator_page(request: Request, code: str, indicator: str, label: str) -> Response:
    page = _territory_page(request, code)
    assert page.principal is not None
    check(page.principal, KPI_READERS, code)
    service = page.state.services.indicators
    window = service.windows(code, "month", label=label)[0]
    out = service.explain(code, indicator, window, page.lang, compute_if_missing=False)
    definition = out["definition"] or {}
    name = definition.get("name")
    if isinstance(name, dict):
        name = name.get(page.lang) or name.get("en") or indicator
    return page.render(
        "indicator.html", name=name or indicator, label=label, lines=out["text"].split("\n"),
        lineage=orjson.dumps(out["lineage"], option=orjson.OPT_INDENT_2).decode(),
        definition=orjson.dumps(definition, option=orjson.OPT_INDENT_2).decode(),
        version=out["value"]["version"])


# --- live stream --------------------------------------------------------------------------------


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _reader_territory(request: Request, code: str) -> int | Response:
    """The territory's id if the session's user may read it; else the error (JSON: these
    routes are read by scripts, not shown)."""
    try:
        principal = current_principal(request)
        check(principal, READER_SET | {Role.ADMINISTRATOR}, code)
        return web_state(request).services.registry.territory_id(code)
    except BeffroiError as exc:
        return JSONBody(exc.to_dict(), status_code=exc.status)


@pages.get("/t/{code}/counts")
def counts(request: Request, code: str) -> Response:
    """What the header's badge shows: the territory's open alarms, as the alarm list shows
    them (every post); a few bytes rather than a page of alarms on every page load."""
    state = web_state(request)
    tid = _reader_territory(request, code)
    if isinstance(tid, Response):
        return tid
    with state.services.store.read() as conn:
        body = {"alarms": repo.open_alarm_count(conn, tid, None)}
    return JSONBody(body, headers={"Cache-Control": "no-store"})


@pages.get("/t/{code}/events")
async def events(request: Request, code: str) -> Response:
    """Server-sent events: ``alarms`` and ``incidents`` when those of the territory change,
    ``states`` when the map's asset states may have changed (and every 15 s). The changes come
    from the process's one watcher per territory (``live.ChangeHub``), not a query per page."""
    state = web_state(request)
    tid = _reader_territory(request, code)
    if isinstance(tid, Response):
        return tid

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async with state.hub.listen(tid) as changes:
            yield _sse("hello", {"territory": code})
            started = last_states = time.monotonic()
            while (left := STREAM_MAX_S - (time.monotonic() - started)) > 0:
                try:
                    change = await asyncio.wait_for(changes.get(), min(PING_S, left))
                except TimeoutError:
                    if time.monotonic() - last_states >= STATES_EVERY_S:
                        last_states = time.monotonic()
                        yield _sse("states", {})
                    else:
                        yield b": ping\n\n"
                    continue
                for kind in change.kinds:
                    yield _sse(kind, {"count": change.counts[kind]})
                last_states = time.monotonic()
                yield _sse("states", {})

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# --- the map's API ------------------------------------------------------------------------------

api = APIRouter()


@api.get("/territories/{code}/map/clusters", tags=["map"],
         summary="Assets of the map, clustered on a grid (or one by one when zoomed in)",
         dependencies=[allow(*READERS)])
def map_clusters(
    code: str, request: Request,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
    zoom: Annotated[float, Query(ge=0, le=24)] = 12,
    domain: str | None = None,
    type: str | None = None,
    post: str | None = None,
    state: Annotated[str | None, Query(description="ok | alarm | fault | silent | off")] = None,
    area: Annotated[str | None, Query(description="id of a district of the base map")] = None,
) -> Response:
    web = web_state(request)
    if type is not None and type not in ASSET_TYPES:
        raise ValidationFailed("unknown type", [field_error("type", f"no asset type {type!r}")])
    if domain is not None and domain not in DOMAINS:
        raise ValidationFailed("unknown domain", [field_error("domain", f"no domain {domain!r}")])
    if state is not None and state not in repo.STATES:
        raise ValidationFailed("unknown state", [field_error(
            "state", f"one of {', '.join(repo.STATES)}")])
    box = parse_bbox(bbox)
    snap = web.cache.get(web.services.registry.territory_id(code))
    shape = None
    if area:
        shape = area_of(web.basemaps.for_extent(extent(snap), snap), area)
        if shape is None:
            raise ValidationFailed("unknown area", [field_error("area", f"no area {area!r}")])
    query = MapQuery(bbox=box, zoom=zoom, domain=domain or None, type=type or None,
                     post=post or None, state=state or None, area=shape)
    return _compressed(request, clusters(snap, query))


@api.get("/territories/{code}/map/basemap", tags=["map"],
         summary="District polygons of the base map (GeoJSON), shipped or derived",
         dependencies=[allow(*READERS)])
def map_basemap(code: str, request: Request) -> Response:
    web = web_state(request)
    snap = web.cache.current(web.services.registry.territory_id(code))  # states not needed
    return _compressed(request, web.basemaps.for_extent(extent(snap), snap))


def _compressed(request: Request, body: Any) -> Response:
    """JSON, gzipped when the client accepts it and it is worth it (the map's answers)."""
    raw = orjson.dumps(body)
    if len(raw) > 2048 and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(gzip.compress(raw, 5), media_type="application/json",
                        headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(raw, media_type="application/json", headers={"Vary": "Accept-Encoding"})


# --- mounting -----------------------------------------------------------------------------------


def mount(app: FastAPI) -> None:
    """Add the UI's routes and static files to ``app``."""
    services: Services = app.state.services
    settings = services.settings
    tile_url = getattr(settings, "map_tile_url", None)
    basemap_dir = getattr(settings, "map_basemap_dir", None)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    cache = MapCache(services.store, services.clock)
    hub = ChangeHub(repo.markers_reader(services.store), on_change=cache.invalidate)
    state = WebState(services=services, templates=templates, cache=cache,
                     basemaps=BaseMaps(Path(basemap_dir) if basemap_dir else None),
                     tile_url=tile_url, hub=hub)
    app.state.web = state
    def on_alarms(_events: object) -> None:
        cache.invalidate()
        hub.poke()

    services.rules.listeners.append(on_alarms)
    services.registry.listeners.append(cache.invalidate)

    @app.exception_handler(Redirect)
    async def _redirect(_request: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.url, status_code=303)

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str, request: Request) -> Response:
        return _static(state, path, request.headers.get("accept-encoding", ""),
                       request.headers.get("if-none-match"))

    app.include_router(api, prefix="/api/v1")

    app.include_router(public.router)
    app.include_router(pages)


__all__ = ["get_services", "mount"]
