"""Residents' reports (Open311 service requests): stored apart from their authors' personal
data, routed to the control posts as incidents, statuses and public comments flowing back.

Policies (see docs/open311.md):

* **Services** are the territory's incident categories: ``service_code`` is the category code,
  the name is its French or English title, the group the name of its control post.
* **A report opens an incident** (source "resident") on the category's post, through
  :meth:`Operations.open_incident`, acting as the platform itself (``system:open311``).
  Imported reports (:meth:`Citizens.import_requests`) open none.
* **Status** is computed when read: a request with an incident is ``closed`` once the incident
  is resolved (or closed), ``open`` before; one without an incident (imported, or whose
  incident was deleted) keeps its stored status. ``status_notes`` is only what an operator
  published with :meth:`Citizens.publish_note`: incident notes and comments stay internal.
* **Personal data** (names, e-mail, phone, device and account ids) go to ``request_contacts``
  only; no read method of this class returns them, the audit log and the logs never get them,
  and :meth:`Citizens.purge_contacts` deletes them ``citizen_contact_retention_days`` after
  the request closed. The client's IP address is used by the rate limiter in memory only.
* **Rate limits**: ``report_rate_per_hour`` accepted reports per remote address and per API
  key, over a sliding hour, in this process's memory: several API processes each allow that
  many, and a restart forgets the counts.
* **Spam**: more than :data:`MAX_LINKS` links, a character repeated :data:`MAX_REPEAT` times
  in a row, or a word of :data:`BLOCKED_WORDS` rejects the report (400) with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    case,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from beffroi.assets.service import Registry
from beffroi.auth.audit import AuditLog
from beffroi.auth.models import Principal, Role
from beffroi.citizens.models import (
    Client,
    ClientCreated,
    ClientOut,
    ImportedRequest,
    RequestIn,
    ServiceOut,
    ServiceRequestAdmin,
    ServiceRequestOut,
)
from beffroi.citizens.tables import open311_clients, request_contacts, service_requests
from beffroi.errors import BadRequest, BeffroiError, Forbidden, NotFound, field_error
from beffroi.operations.models import IncidentIn
from beffroi.operations.repository import incidents
from beffroi.operations.service import Operations
from beffroi.privacy import scrub
from beffroi.settings import Settings
from beffroi.store import Store
from beffroi.store.schema import assets, territories
from beffroi.timeutil import Clock, to_iso

log = logging.getLogger("beffroi.citizens")

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
WINDOW_DAYS = 90  # GET requests: the default date range (the spec's)
MAX_RESULTS = 1000  # GET requests: most requests in one answer (the spec's)
MIN_DESCRIPTION, MAX_DESCRIPTION = 5, 4000
MAX_LINKS = 3
MAX_REPEAT = 12
# Words that only spam uses in a report about public space (matched as whole words, any case).
BLOCKED_WORDS = ("viagra", "cialis", "casino", "bitcoin", "forex", "porn", "escort",
                 "payday")
BBOX_MARGIN_DEG = 0.05  # about 5 km around the territory's assets
SOURCES = ("open311", "web", "import")
STATUSES = ("open", "closed")
OPEN311_ACTOR = Principal(kind="system", name="open311", superuser=True)

_EMAIL_RE = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_PHONE_RE = re.compile(r"^\+?[0-9 ().-]{4,40}$")
_LINK_RE = re.compile(r"(https?://|www\.)", re.IGNORECASE)
_REPEAT_RE = re.compile(r"(\S)\1{" + str(MAX_REPEAT - 1) + ",}")
_BLOCKED_RE = re.compile(r"\b(" + "|".join(BLOCKED_WORDS) + r")\b", re.IGNORECASE)
_URL_RE = re.compile(r"^https?://[^\s]{1,990}$")


class RateLimited(BeffroiError):
    status = 429
    code = "rate_limited"


class SpamRejected(BadRequest):
    code = "rejected_as_spam"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class RateLimiter:
    """Sliding one-hour windows of accepted reports, per key, in this process's memory."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._hits: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    def _window(self, key: str, now: int) -> deque[int]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - HOUR_MS:
            hits.popleft()
        return hits

    def check(self, limits: Sequence[tuple[str, int]]) -> None:
        """RateLimited if any key already reached its limit in the last hour."""
        now = self.clock()
        with self._lock:
            for key, limit in limits:
                hits = self._window(key, now)
                if len(hits) >= limit:
                    retry_s = max(1, (hits[0] + HOUR_MS - now + 999) // 1000)
                    kind = key.split(":", 1)[0]
                    raise RateLimited(
                        f"too many reports from this {kind}: at most {limit} per hour; "
                        f"try again in {retry_s} s", [field_error(kind, "rate limit",
                                                                  retry_after_s=retry_s)])

    def hit(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._window(key, now).append(now)
            if len(self._hits) > 10_000:  # forget idle keys
                for key in [k for k, v in self._hits.items() if not v]:
                    del self._hits[key]


def _clean(value: str | None, field: str, max_len: int, problems: list[dict[str, Any]]
           ) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > max_len:
        problems.append(field_error(field, f"at most {max_len} characters"))
        return None
    if any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        problems.append(field_error(field, "control characters are not allowed"))
        return None
    return value


def _float(value: str | None, field: str, low: float, high: float,
           problems: list[dict[str, Any]]) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        problems.append(field_error(field, f"{value[:40]!r} is not a number"))
        return None
    if not math.isfinite(number) or not low <= number <= high:
        problems.append(field_error(field, f"must be a WGS84 coordinate in [{low}, {high}]"))
        return None
    return number


def spam_reason(text: str) -> str | None:
    """Why ``text`` looks like spam, or None."""
    links = len(_LINK_RE.findall(text))
    if links > MAX_LINKS:
        return f"{links} links (at most {MAX_LINKS})"
    if _REPEAT_RE.search(text):
        return f"a character repeated {MAX_REPEAT} times or more in a row"
    blocked = _BLOCKED_RE.search(text)
    if blocked:
        return f"the blocked word {blocked.group(1).lower()!r}"
    return None


def _status_expr() -> ColumnElement[str]:
    """The Open311 status: the incident's, else the stored one."""
    return case(
        (service_requests.c.incident_id.is_(None), service_requests.c.status),
        (incidents.c.state.in_(("resolved", "closed")), literal("closed")),
        else_=literal("open"))


def _closed_expr() -> ColumnElement[int]:
    """When the request closed (None while open)."""
    return case(
        (service_requests.c.incident_id.is_(None), service_requests.c.closed_ms),
        else_=func.coalesce(incidents.c.resolved_ms, incidents.c.closed_ms))


def _base_query() -> Any:
    return (select(service_requests, _status_expr().label("o_status"),
                   _closed_expr().label("o_closed_ms"), incidents.c.post.label("o_post"),
                   incidents.c.updated_ms.label("o_incident_updated_ms"),
                   incidents.c.reported_ms.label("o_reported_ms"),
                   open311_clients.c.name.label("o_client"),
                   request_contacts.c.request_id.label("o_contact"))
            .select_from(service_requests
                         .outerjoin(incidents, incidents.c.id == service_requests.c.incident_id)
                         .outerjoin(open311_clients,
                                    open311_clients.c.id == service_requests.c.client_id)
                         .outerjoin(request_contacts,
                                    request_contacts.c.request_id == service_requests.c.id)))


def parse_w3c(value: str, field: str) -> int:
    """A W3C date-time (``2026-01-05T10:00:00Z``, ``…+01:00``) or date (UTC midnight)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadRequest(f"{field}: {value[:40]!r} is not a W3C date-time", [field_error(
            field, "e.g. 2026-01-05T10:00:00Z or 2026-01-05T11:00:00+01:00")]) from None
    if dt.tzinfo is None:
        raise BadRequest(f"{field}: {value[:40]!r} has no time zone", [field_error(
            field, "add Z or an offset such as +01:00")])
    return int(dt.timestamp() * 1000)


class Citizens:
    def __init__(self, store: Store, registry: Registry, operations: Operations,
                 audit: AuditLog, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.operations = operations
        self.audit = audit
        self.clock = clock
        self.settings = settings
        self.limiter = RateLimiter(clock)
        self._last_purge: int | None = None

    # --- territories ----------------------------------------------------------------------------

    def jurisdiction(self, jurisdiction_id: str | None) -> str:
        """The territory code an Open311 call is about: ``jurisdiction_id`` if given, else the
        installation's only territory."""
        if jurisdiction_id:
            with self.store.read() as conn:
                found = conn.execute(select(territories.c.code).where(
                    territories.c.code == jurisdiction_id)).scalar()
            if found is None:
                raise NotFound(f"jurisdiction_id {jurisdiction_id[:64]!r} not found")
            return str(found)
        with self.store.read() as conn:
            codes = list(conn.execute(select(territories.c.code).order_by(
                territories.c.code).limit(6)).scalars())
        if not codes:
            raise NotFound("this installation has no territory yet")
        if len(codes) > 1:
            shown = ", ".join(codes[:5]) + (", …" if len(codes) > 5 else "")
            raise BadRequest(f"jurisdiction_id is required: one of {shown}",
                             [field_error("jurisdiction_id", "required")])
        return str(codes[0])

    def _tid(self, conn: Connection, code: str) -> int:
        tid = conn.execute(select(territories.c.id).where(territories.c.code == code)).scalar()
        if tid is None:
            raise NotFound(f"territory {code!r} not found")
        return int(tid)

    # --- services -------------------------------------------------------------------------------

    def _names(self, code: str, lang: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Categories by code, post names by code (in ``lang``)."""
        cats = {c.code: c for c in self.operations.list_categories(code, OPEN311_ACTOR)}
        posts = {p.code: (p.name_en if lang == "en" else p.name_fr)
                 for p in self.operations.list_posts(code, OPEN311_ACTOR)}
        return cats, posts

    def services(self, code: str, lang: str = "fr") -> list[ServiceOut]:
        """The territory's Open311 service list: its incident categories."""
        cats, posts = self._names(code, lang)
        out = []
        for cat in sorted(cats.values(), key=lambda c: c.code):
            name = cat.title_en if lang == "en" else cat.title_fr
            group = posts.get(cat.post, cat.post)
            description = (f"{name} — handled by: {group}" if lang == "en"
                           else f"{name} — traité par : {group}")
            keywords = ", ".join(dict.fromkeys([*cat.code.split("-"), cat.post]))
            out.append(ServiceOut(service_code=cat.code, service_name=name,
                                  description=description, metadata=False, type="realtime",
                                  keywords=keywords, group=group))
        return out

    def service(self, code: str, service_code: str, lang: str = "fr") -> ServiceOut:
        for svc in self.services(code, lang):
            if svc.service_code == service_code:
                return svc
        raise BadRequest(f"service_code {service_code[:64]!r} not found",
                         [field_error("service_code", "not a service of this jurisdiction")])

    # --- API keys -------------------------------------------------------------------------------

    @staticmethod
    def _client(row: Row[Any], code: str | None) -> Client:
        return Client(id=row.id, name=row.name, territory=code, created_ms=row.created_ms,
                      revoked_ms=row.revoked_ms, rate_per_hour=row.rate_per_hour)

    @staticmethod
    def client_out(client: Client) -> ClientOut:
        return ClientOut(id=client.id, name=client.name, territory=client.territory,
                         created=to_iso(client.created_ms),
                         revoked=None if client.revoked_ms is None else to_iso(client.revoked_ms),
                         rate_per_hour=client.rate_per_hour)

    def create_client(self, name: str, territory: str | None = None,
                      rate_per_hour: int | None = None, actor: str = "system:beffroi"
                      ) -> ClientCreated:
        """A new client application key, returned once (only its SHA-256 is stored).
        ``territory`` None: a key valid in every territory."""
        name = name.strip()
        if not 1 <= len(name) <= 200:
            raise BadRequest("invalid client name", [field_error("name", "1 to 200 characters")])
        if rate_per_hour is not None and rate_per_hour < 1:
            raise BadRequest("invalid rate", [field_error("rate_per_hour", "at least 1")])
        key = "o311_" + secrets.token_urlsafe(24)
        now = self.clock()
        with self.store.write() as conn:
            tid = None if territory is None else self._tid(conn, territory)
            client_id = conn.execute(insert(open311_clients).values(
                territory_id=tid, name=name, key_hash=hash_key(key), created_ms=now,
                rate_per_hour=rate_per_hour).returning(open311_clients.c.id)).scalar_one()
            self.audit.record(conn, territory_id=tid, actor=actor, action="open311_client.create",
                              target=f"open311_client:{client_id}",
                              after={"name": name, "rate_per_hour": rate_per_hour})
        out = self.client_out(Client(client_id, name, territory, now, None, rate_per_hour))
        return ClientCreated(**out.model_dump(), api_key=key)

    def list_clients(self, territory: str | None = None) -> list[Client]:
        """Keys of ``territory`` (None: every key of the installation)."""
        query = (select(open311_clients, territories.c.code)
                 .select_from(open311_clients.outerjoin(
                     territories, territories.c.id == open311_clients.c.territory_id))
                 .order_by(open311_clients.c.id))
        if territory is not None:
            query = query.where(territories.c.code == territory)
        with self.store.read() as conn:
            return [self._client(r, r.code) for r in conn.execute(query)]

    def revoke_client(self, client_id: int, territory: str | None = None,
                      actor: str = "system:beffroi") -> Client:
        """Revoke a key (its requests stay). ``territory``: the key must be of it."""
        now = self.clock()
        with self.store.write() as conn:
            row = conn.execute(select(open311_clients, territories.c.code).select_from(
                open311_clients.outerjoin(territories,
                                          territories.c.id == open311_clients.c.territory_id))
                .where(open311_clients.c.id == client_id)).first()
            if row is None or (territory is not None and row.code != territory):
                raise NotFound(f"Open311 client {client_id} not found")
            if row.revoked_ms is None:
                conn.execute(update(open311_clients).where(open311_clients.c.id == client_id)
                             .values(revoked_ms=now))
                self.audit.record(conn, territory_id=row.territory_id, actor=actor,
                                  action="open311_client.revoke",
                                  target=f"open311_client:{client_id}")
            revoked = row.revoked_ms or now
        return Client(row.id, row.name, row.code, row.created_ms, revoked, row.rate_per_hour)

    def authenticate(self, code: str, api_key: str | None) -> Client:
        """The client application of ``api_key``, allowed in territory ``code``; else 403."""
        if not api_key:
            raise Forbidden("api_key is required to post a service request",
                            [field_error("api_key", "required")])
        with self.store.read() as conn:
            row = conn.execute(select(open311_clients, territories.c.code).select_from(
                open311_clients.outerjoin(territories,
                                          territories.c.id == open311_clients.c.territory_id))
                .where(open311_clients.c.key_hash == hash_key(api_key))).first()
        if row is None or row.revoked_ms is not None:
            raise Forbidden("invalid or revoked api_key", [field_error("api_key", "invalid")])
        if row.code is not None and row.code != code:
            raise Forbidden(f"this api_key is not valid in jurisdiction {code!r}",
                            [field_error("api_key", "other jurisdiction")])
        return self._client(row, row.code)

    # --- reports --------------------------------------------------------------------------------

    def _bbox(self, conn: Connection, tid: int) -> tuple[float, float, float, float] | None:
        row = conn.execute(select(func.min(assets.c.min_lon), func.min(assets.c.min_lat),
                                  func.max(assets.c.max_lon), func.max(assets.c.max_lat))
                           .where(assets.c.territory_id == tid)).first()
        if row is None or row[0] is None:
            return None
        return (row[0] - BBOX_MARGIN_DEG, row[1] - BBOX_MARGIN_DEG,
                row[2] + BBOX_MARGIN_DEG, row[3] + BBOX_MARGIN_DEG)

    def _validate(self, conn: Connection, tid: int, data: RequestIn, known: set[str]
                  ) -> dict[str, Any]:
        problems: list[dict[str, Any]] = []
        service_code = (data.service_code or "").strip()
        if not service_code:
            raise BadRequest("service_code is required", [field_error("service_code",
                                                                      "required")])
        if service_code not in known:
            raise BadRequest(f"service_code {service_code[:64]!r} not found", [field_error(
                "service_code", f"one of {sorted(known)}")])
        description = _clean(data.description, "description", MAX_DESCRIPTION, problems)
        if ((description is None or len(description) < MIN_DESCRIPTION)
                and not any(p["field"] == "description" for p in problems)):
            problems.append(field_error(
                "description", f"required, {MIN_DESCRIPTION} to {MAX_DESCRIPTION} "
                "characters"))
        lat = _float(data.lat, "lat", -90.0, 90.0, problems)
        lon = _float(data.long, "long", -180.0, 180.0, problems)
        address = _clean(data.address_string, "address_string", 500, problems)
        address_id = _clean(data.address_id, "address_id", 200, problems)
        has_lat = data.lat is not None and data.lat.strip() != ""
        has_lon = data.long is not None and data.long.strip() != ""
        if has_lat != has_lon:
            problems.append(field_error("lat" if has_lon else "long",
                                        "lat and long go together"))
        elif lat is not None and lon is not None:
            box = self._bbox(conn, tid)
            if box is not None and not (box[0] <= lon <= box[2] and box[1] <= lat <= box[3]):
                problems.append(field_error(
                    "lat", "the location is outside this jurisdiction "
                    f"(longitude {box[0]:.3f} to {box[2]:.3f}, "
                    f"latitude {box[1]:.3f} to {box[3]:.3f})"))
        elif not has_lat and address is None and address_id is None:
            problems.append(field_error("lat", "a location is required: lat and long, "
                                        "address_string or address_id"))
        email = _clean(data.email, "email", 254, problems)
        if email is not None and not _EMAIL_RE.match(email):
            problems.append(field_error("email", "not an e-mail address"))
        phone = _clean(data.phone, "phone", 40, problems)
        if phone is not None and not _PHONE_RE.match(phone):
            problems.append(field_error("phone", "digits, spaces, + ( ) . - only"))
        media_url = _clean(data.media_url, "media_url", 1000, problems)
        if media_url is not None and not _URL_RE.match(media_url):
            problems.append(field_error("media_url", "an http(s) URL"))
        contact = {
            "first_name": _clean(data.first_name, "first_name", 100, problems),
            "last_name": _clean(data.last_name, "last_name", 100, problems),
            "email": email, "phone": phone,
            "device_id": _clean(data.device_id, "device_id", 200, problems),
            "account_id": _clean(data.account_id, "account_id", 200, problems)}
        if problems:
            first = problems[0]
            raise BadRequest(f"{first['field']}: {first['reason']}", problems)
        assert description is not None
        reason = spam_reason(description)
        if reason is not None:
            raise SpamRejected(f"the report was rejected as spam: {reason}",
                               [field_error("description", reason)])
        return {"service_code": service_code, "description": description, "lat": lat,
                "lon": lon, "address_string": address, "address_id": address_id,
                "media_url": media_url, "contact": contact}

    @staticmethod
    def _public_id(requested_ms: int, row_id: int) -> str:
        return f"{datetime.fromtimestamp(requested_ms / 1000, tz=UTC).year}-{row_id:06d}"

    def _insert_request(self, conn: Connection, values: dict[str, Any]) -> tuple[int, str]:
        row_id = int(conn.execute(insert(service_requests).values(
            public_id="tmp-" + uuid.uuid4().hex[:24], **values)
            .returning(service_requests.c.id)).scalar_one())
        public_id = self._public_id(values["requested_ms"], row_id)
        conn.execute(update(service_requests).where(service_requests.c.id == row_id)
                     .values(public_id=public_id))
        return row_id, public_id

    def create_request(self, code: str, data: RequestIn, client: Client | None,
                       remote_addr: str | None, source: str = "open311") -> dict[str, Any]:
        """Validate, rate-limit and store a resident's report, open its incident; returns the
        Open311 answer ``{"service_request_id", "service_notice", "account_id"}``.

        ``client``: the authenticated application (None: Beffroi's own public page, source
        "web"). ``remote_addr``: the caller's address, for the rate limit only (never
        stored)."""
        if source not in ("open311", "web"):
            raise BadRequest(f"unknown source {source!r}", [field_error("source",
                                                                        "open311 or web")])
        known = {c.code for c in self.operations.list_categories(code, OPEN311_ACTOR)}
        with self.store.read() as conn:
            tid = self._tid(conn, code)
            clean = self._validate(conn, tid, data, known)
        rate = self.settings.report_rate_per_hour
        limits: list[tuple[str, int]] = []
        if remote_addr:
            limits.append((f"address:{remote_addr}", max(rate, client.rate_per_hour or 0)
                           if client else rate))
        if client is not None:
            limits.append((f"api_key:{client.id}", client.rate_per_hour or rate))
        self.limiter.check(limits)
        contact = clean.pop("contact")
        now = self.clock()
        notice = self._notice(code, clean["service_code"])
        with self.store.write() as conn:
            row_id, public_id = self._insert_request(conn, {
                **clean, "territory_id": tid, "status": "open", "requested_ms": now,
                "updated_ms": now, "service_notice": notice, "source": source,
                "client_id": None if client is None else client.id})
            if any(v is not None for v in contact.values()):
                conn.execute(insert(request_contacts).values(request_id=row_id,
                                                             created_ms=now, **contact))
        self.limiter.hit(key for key, _ in limits)
        where = clean["address_string"] or (
            f"{clean['lat']:.6f}, {clean['lon']:.6f}" if clean["lat"] is not None
            else f"address id {clean['address_id']}")
        summary = clean["description"].splitlines()[0][:120]
        try:
            incident = self.operations.open_incident(code, IncidentIn(
                category=clean["service_code"], title=f"{public_id} — {summary}",
                description=f"{clean['description']}\n\nLocation: {where}\n"
                            f"Open311 request {public_id} ({source})"),
                OPEN311_ACTOR, source="resident")
        except Exception:
            with self.store.write() as conn:
                conn.execute(delete(service_requests).where(service_requests.c.id == row_id))
            raise
        with self.store.write() as conn:
            conn.execute(update(service_requests).where(service_requests.c.id == row_id)
                         .values(incident_id=incident.id))
            self.audit.record(conn, territory_id=tid, actor=OPEN311_ACTOR.actor,
                              action="service_request.create",
                              target=f"service_request:{public_id}",
                              after={"service_code": clean["service_code"], "source": source,
                                     "client": None if client is None else client.name,
                                     "incident": incident.id,
                                     "contact_kept": any(v is not None
                                                         for v in contact.values())})
        log.info("service request received", extra={
            "territory": code, "request": public_id, "incident": incident.id,
            "source": source})
        return {"service_request_id": public_id, "service_notice": notice,
                "account_id": contact["account_id"]}

    def _notice(self, code: str, service_code: str) -> str | None:
        """What the resident is told on posting: the category's resolution target."""
        for cat in self.operations.list_categories(code, OPEN311_ACTOR):
            if cat.code == service_code and "resolved" in cat.sla_minutes:
                minutes = cat.sla_minutes["resolved"]
                delay = (f"{minutes // 1440} j" if minutes >= 1440 and minutes % 1440 == 0
                         else f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0
                         else f"{minutes} min")
                return f"Délai de résolution visé / resolution target: {delay}"
        return None

    # --- reading --------------------------------------------------------------------------------

    def _out(self, row: Row[Any], cats: dict[str, Any], posts: dict[str, str], lang: str,
             admin: bool = False) -> ServiceRequestOut:
        cat = cats.get(row.service_code)
        name = None if cat is None else (cat.title_en if lang == "en" else cat.title_fr)
        agency = row.agency_responsible or (
            posts.get(row.o_post, row.o_post) if row.o_post else None)
        expected = None
        if (row.o_reported_ms is not None and cat is not None
                and "resolved" in cat.sla_minutes and row.o_status == "open"):
            expected = to_iso(row.o_reported_ms + cat.sla_minutes["resolved"] * 60_000)
        updated = max(row.updated_ms, row.o_incident_updated_ms or 0)
        values: dict[str, Any] = dict(
            service_request_id=row.public_id, status=row.o_status,
            # What a resident typed is public here: emails and phone numbers are masked
            # (the control room's admin view keeps the text as written).
            status_notes=row.status_notes if admin else scrub(row.status_notes),
            service_name=name, service_code=row.service_code,
            description=row.description if admin else scrub(row.description),
            agency_responsible=agency,
            service_notice=row.service_notice, requested_datetime=to_iso(row.requested_ms),
            updated_datetime=to_iso(updated), expected_datetime=expected,
            address=row.address_string, address_id=row.address_id, zipcode=None,
            lat=row.lat, long=row.lon, media_url=row.media_url)
        if admin:
            return ServiceRequestAdmin(**values, incident_id=row.incident_id, source=row.source,
                                       source_id=row.source_id, client=row.o_client,
                                       has_contact=row.o_contact is not None)
        return ServiceRequestOut(**values)

    def get_requests(self, code: str, ids: Sequence[str] | None = None,
                     service_codes: Sequence[str] | None = None,
                     statuses: Sequence[str] | None = None, start_ms: int | None = None,
                     end_ms: int | None = None, limit: int = MAX_RESULTS, lang: str = "fr",
                     admin: bool = False) -> list[ServiceRequestOut]:
        """Requests newest first, as the spec says: ``ids`` overrides every other filter;
        otherwise requested between ``start_ms`` and ``end_ms`` (default: the last 90 days, or
        90 days from ``start_ms``; a wider range given explicitly is accepted, for history),
        of ``service_codes`` and ``statuses`` ("open"/"closed"); at most 1000."""
        if statuses:
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise BadRequest(f"status {bad[0][:20]!r} is not open or closed",
                                 [field_error("status", "open, closed")])
        limit = max(1, min(limit, MAX_RESULTS))
        query = _base_query()
        if ids:
            query = query.where(service_requests.c.public_id.in_(list(ids)[:MAX_RESULTS]))
        else:
            window = WINDOW_DAYS * DAY_MS
            if end_ms is None:
                end_ms = self.clock() if start_ms is None else start_ms + window
            if start_ms is None:
                start_ms = end_ms - window
            if end_ms < start_ms:
                raise BadRequest("end_date is before start_date",
                                 [field_error("end_date", "after start_date")])
            query = query.where(service_requests.c.requested_ms >= start_ms,
                                service_requests.c.requested_ms <= end_ms)
            if service_codes:
                query = query.where(service_requests.c.service_code.in_(list(service_codes)))
            if statuses:
                query = query.where(_status_expr().in_(list(statuses)))
        with self.store.read() as conn:
            tid = self._tid(conn, code)
            rows = conn.execute(query.where(service_requests.c.territory_id == tid)
                                .order_by(service_requests.c.requested_ms.desc(),
                                          service_requests.c.id.desc())
                                .limit(limit)).all()
        cats, posts = self._names(code, lang)
        return [self._out(r, cats, posts, lang, admin) for r in rows]

    def get_request(self, code: str, request_id: str, lang: str = "fr",
                    admin: bool = False) -> ServiceRequestOut:
        found = self.get_requests(code, ids=[request_id], lang=lang, admin=admin)
        if not found:
            raise NotFound(f"service request {request_id[:40]!r} not found")
        return found[0]

    def get_request_admin(self, code: str, request_id: str) -> ServiceRequestAdmin:
        """One request as the control room sees it (incident, source, client; no contact)."""
        found = self.get_request(code, request_id, admin=True)
        assert isinstance(found, ServiceRequestAdmin)
        return found

    def publish_note(self, code: str, request_id: str, text: str, principal: Principal
                     ) -> ServiceRequestOut:
        """Set the public note (``status_notes``) the resident and everyone see. Operators
        may publish on requests whose incident is on one of their posts."""
        role = principal.role_in(code)
        if role not in (Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR):
            raise Forbidden(f"{principal.actor} may not publish notes in territory {code!r}")
        text = text.strip()
        if not 1 <= len(text) <= MAX_DESCRIPTION:
            raise BadRequest("invalid note", [field_error("text", "1 to 4000 characters")])
        now = self.clock()
        with self.store.write() as conn:
            tid = self._tid(conn, code)
            row = conn.execute(_base_query().where(
                service_requests.c.territory_id == tid,
                service_requests.c.public_id == request_id)).first()
            if row is None:
                raise NotFound(f"service request {request_id[:40]!r} not found")
            grant = principal.grants.get(code)
            if (role is Role.OPERATOR and row.o_post is not None and grant is not None
                    and not principal.superuser and row.o_post not in grant.posts):
                raise Forbidden(f"{principal.actor} does not act for post {row.o_post!r}")
            conn.execute(update(service_requests).where(service_requests.c.id == row.id)
                         .values(status_notes=text, updated_ms=now))
            self.audit.record(conn, territory_id=tid, actor=principal.actor,
                              action="service_request.note",
                              target=f"service_request:{request_id}",
                              before={"status_notes": row.status_notes},
                              after={"status_notes": text})
        return self.get_request(code, request_id)

    # --- imports --------------------------------------------------------------------------------

    def import_requests(self, code: str, items: Iterable[ImportedRequest],
                        actor: Principal | str) -> dict[str, Any]:
        """Store historical reports (no incident is opened); idempotent on ``source_id``: an
        item already imported with the same values is ``unchanged``, with other values
        ``updated``. Returns ``{"created": n, "updated": n, "unchanged": n, "rejected":
        [{"index", "field", "reason"}]}`` (index: the item's position in ``items``)."""
        who = actor.actor if isinstance(actor, Principal) else actor
        known = {c.code for c in self.operations.list_categories(code, OPEN311_ACTOR)}
        created = updated = unchanged = 0
        rejected: list[dict[str, Any]] = []
        now = self.clock()
        with self.store.write() as conn:
            tid = self._tid(conn, code)
            for index, item in enumerate(items):
                problem = self._import_problem(item, known)
                if problem is not None:
                    rejected.append({"index": index, "field": problem[0],
                                     "reason": problem[1]})
                    continue
                closed = (item.closed_ms if item.closed_ms is not None else item.requested_ms
                          ) if item.status == "closed" else None
                values = {"service_code": item.service_code,
                          "description": item.description.strip()[:MAX_DESCRIPTION],
                          "lat": item.lat, "lon": item.lon,
                          "address_string": item.address[:500] if item.address else None,
                          "status": item.status, "requested_ms": item.requested_ms,
                          "closed_ms": closed,
                          "agency_responsible": item.agency[:200] if item.agency else None}
                existing = conn.execute(select(service_requests).where(
                    service_requests.c.territory_id == tid,
                    service_requests.c.source_id == item.source_id)).first()
                if existing is None:
                    self._insert_request(conn, {**values, "territory_id": tid,
                                                "updated_ms": now, "source": "import",
                                                "source_id": item.source_id})
                    created += 1
                elif all(getattr(existing, k) == v for k, v in values.items()):
                    unchanged += 1
                else:
                    conn.execute(update(service_requests)
                                 .where(service_requests.c.id == existing.id)
                                 .values(**values, updated_ms=now))
                    updated += 1
            counts = {"created": created, "updated": updated, "unchanged": unchanged,
                      "rejected": len(rejected)}
            if created or updated:
                self.audit.record(conn, territory_id=tid, actor=who,
                                  action="service_request.import", target=f"territory:{code}",
                                  after=counts)
        if rejected:
            log.warning("imported requests rejected", extra={
                "territory": code, "count": len(rejected), "first": rejected[0]})
        return {"created": created, "updated": updated, "unchanged": unchanged,
                "rejected": rejected}

    @staticmethod
    def _import_problem(item: ImportedRequest, known: set[str]) -> tuple[str, str] | None:
        if not item.source_id or len(item.source_id) > 128:
            return "source_id", "1 to 128 characters"
        if item.service_code not in known:
            return "service_code", f"unknown service_code {item.service_code[:64]!r}"
        if item.status not in STATUSES:
            return "status", f"{item.status[:20]!r} is not open or closed"
        if not (math.isfinite(item.lat) and math.isfinite(item.lon)
                and -90 <= item.lat <= 90 and -180 <= item.lon <= 180):
            return "lat", "coordinates out of WGS84"
        if not item.description.strip():
            return "description", "empty"
        return None

    # --- privacy --------------------------------------------------------------------------------

    def purge_contacts(self, now: int | None = None) -> dict[str, int]:
        """Delete the contact data of requests closed more than
        ``citizen_contact_retention_days`` ago; returns ``{"contacts_deleted": n}``."""
        now = self.clock() if now is None else now
        cutoff = now - self.settings.citizen_contact_retention_days * DAY_MS
        closed = _closed_expr()
        query = (select(service_requests.c.id, service_requests.c.territory_id)
                 .select_from(service_requests
                              .join(request_contacts,
                                    request_contacts.c.request_id == service_requests.c.id)
                              .outerjoin(incidents,
                                         incidents.c.id == service_requests.c.incident_id))
                 .where(_status_expr() == "closed", closed.is_not(None), closed <= cutoff))
        deleted = 0
        with self.store.write() as conn:
            rows = conn.execute(query).all()
            by_territory: dict[int, int] = {}
            for start in range(0, len(rows), 500):
                chunk = [r.id for r in rows[start:start + 500]]
                deleted += conn.execute(delete(request_contacts).where(
                    request_contacts.c.request_id.in_(chunk))).rowcount or 0
            for r in rows:
                by_territory[r.territory_id] = by_territory.get(r.territory_id, 0) + 1
            for tid, count in by_territory.items():
                self.audit.record(conn, territory_id=tid, actor="system:beffroi",
                                  action="service_request.contacts_purged",
                                  target="request_contacts",
                                  after={"count": count, "retention_days":
                                         self.settings.citizen_contact_retention_days})
        if deleted:
            log.info("residents' contact data purged", extra={"count": deleted})
        return {"contacts_deleted": deleted}

    def tick(self) -> dict[str, int]:
        """The periodic pass (the worker calls it as often as it likes): the retention purge,
        at most once an hour."""
        now = self.clock()
        if self._last_purge is not None and now - self._last_purge < HOUR_MS:
            return {"contacts_deleted": 0}
        self._last_purge = now
        return self.purge_contacts(now)

    def contact_count(self, code: str) -> int:
        """How many requests of ``code`` still have contact data (counts only, no content)."""
        with self.store.read() as conn:
            tid = self._tid(conn, code)
            return int(conn.execute(select(func.count()).select_from(
                request_contacts.join(service_requests,
                                      service_requests.c.id == request_contacts.c.request_id))
                .where(service_requests.c.territory_id == tid)).scalar_one())
