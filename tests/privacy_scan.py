"""A reusable scan of everything the platform shows without an account, for residents'
personal data.

:class:`PublicScan` walks every GET route of the application (``app.routes``, recursively
through mounts), fills path parameters from seeded values (``fill``), asks each URL as an
anonymous client, and follows from the answers the links that stay on the site (catalog
``downloadURL``/``accessURL`` values, ``href``/``src`` of HTML pages, redirects). Routes that
answer 401/403 or redirect to the log-in page are private and left out; every other answer
is read — JSON re-serialised without escapes, HTML unescaped, gzip/zip opened, Parquet
turned into text — and searched for each :class:`Secret`. A route added later is scanned
without touching the test, as long as its path parameters have a known name (the scan lists
the routes it could not fill).
"""

from __future__ import annotations

import contextlib
import gzip
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice, product
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient

PARAM = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?}")
SEPARATORS = r"[\s.\-()/\u00a0]*"  # how people write phone numbers between digits
LINK_KEYS = re.compile(r"(url|uri|href|@id|link|next|download|access)", re.IGNORECASE)
HTML_LINK = re.compile(r"""(?:href|src|action|data-url)\s*=\s*["']([^"'#]+)""", re.IGNORECASE)
BASE = "http://testserver"


@dataclass(frozen=True)
class Secret:
    """A personal datum: ``label`` names it in failures, ``pattern`` finds it."""

    label: str
    pattern: re.Pattern[str]

    @classmethod
    def text(cls, label: str, value: str) -> Secret:
        return cls(label, re.compile(re.escape(value), re.IGNORECASE))

    @classmethod
    def phone(cls, label: str, national: str) -> Secret:
        """A French number by its 9 significant digits (``612345678``): found whatever the
        format (``06 12 34 56 78``, ``+33 6 12-34-56-78``, ``0612345678``…)."""
        digits = re.sub(r"\D", "", national)[-9:]
        country = rf"(?:\+|00){SEPARATORS}33{SEPARATORS}(?:\(0\))?{SEPARATORS}"
        prefix = rf"(?:{country}|\(?0\)?{SEPARATORS})?"
        return cls(label, re.compile(r"(?<!\d)" + prefix + SEPARATORS.join(digits)
                                     + r"(?!\d)"))


@dataclass(frozen=True)
class Hit:
    where: str  # URL, "audit log #id" or "logs"
    secret: str

    def __str__(self) -> str:
        return f"{self.where}: {self.secret}"


@dataclass
class ScanResult:
    public: list[str] = field(default_factory=list)  # URLs read (2xx)
    private: list[str] = field(default_factory=list)  # 401/403 or redirected to log in
    errors: list[str] = field(default_factory=list)  # 5xx on a public URL
    refused: list[str] = field(default_factory=list)  # other 4xx: "URL: status"
    unfilled: list[str] = field(default_factory=list)  # route paths with unknown parameters
    hits: list[Hit] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)  # URL → text read

    def found(self, needle: str) -> list[str]:
        """The public URLs whose text contains ``needle`` (case-insensitive)."""
        low = needle.lower()
        return [url for url, body in self.bodies.items() if low in body.lower()]


def scan_text(where: str, text: str, secrets: Iterable[Secret]) -> list[Hit]:
    return [Hit(where, s.label) for s in secrets if s.pattern.search(text)]


def readable(content: bytes, content_type: str = "") -> str:
    """The text of a response body for the search (decompressed, unescaped)."""
    if content[:2] == b"\x1f\x8b":
        return readable(gzip.decompress(content))
    if content[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "\n".join(readable(archive.read(n)) for n in archive.namelist())
    if content[:4] == b"PAR1":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        table = pq.read_table(io.BytesIO(content))
        return json.dumps(table.to_pylist(), ensure_ascii=False, default=str)
    text = content.decode("utf-8", errors="replace")
    parts = [text]
    if "json" in content_type or text.lstrip()[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            parts.append(json.dumps(json.loads(text), ensure_ascii=False))
    if "html" in content_type or "xml" in content_type or "&" in text:
        parts.append(html.unescape(text))
    return "\n".join(parts)


def _links(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _links(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _links(v, key)
    elif isinstance(value, str) and LINK_KEYS.search(key) and (
            value.startswith("/") or value.startswith(BASE)):
        yield value


def links_in(content: bytes, content_type: str, page: str) -> list[str]:
    """Same-site links of an answer: JSON values under link-like keys (``downloadURL``,
    ``dcat:accessURL``, ``@id``, ``href``…) and HTML ``href``/``src`` attributes."""
    found: list[str] = []
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type:
        with contextlib.suppress(ValueError):
            found.extend(_links(json.loads(text)))
    if "html" in content_type or "xml" in content_type:
        found.extend(html.unescape(u) for u in HTML_LINK.findall(text))
    out = []
    for link in found:
        absolute = urljoin(BASE + page, link)
        parts = urlsplit(absolute)
        if parts.netloc == urlsplit(BASE).netloc:
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return out


def _routes(routes: Sequence[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from _routes(included.routes, prefix + getattr(context, "prefix", ""))
            continue
        path = prefix + getattr(route, "path", "")
        sub = getattr(route, "routes", None)  # Mount, Router
        if sub is None and hasattr(getattr(route, "app", None), "routes"):
            sub = route.app.routes
        methods = getattr(route, "methods", None)
        if methods is not None and "GET" in methods:
            yield path, route
        elif sub:
            yield from _routes(sub, path)


def _fill(path: str, given: Mapping[str, str]) -> str:
    return PARAM.sub(lambda m: given[m.group(1)], path)


class PublicScan:
    """Scan what an anonymous client can read.

    ``fill`` gives the values of path (and query) parameters by name, e.g.
    ``{"code": ["paris"], "format": ["json", "xml"]}``; ``query`` adds parameters to routes
    that declare them (e.g. Open311's ``start_date``); ``skip`` holds path prefixes that are
    not public by design (``/api/v1``, the log-in page)."""

    def __init__(self, app: FastAPI, secrets: Sequence[Secret], *,
                 fill: Mapping[str, Sequence[str]], query: Mapping[str, str] | None = None,
                 skip: Sequence[str] = ("/api/v1", "/login", "/logout", "/static"),
                 max_urls: int = 600, max_combinations: int = 20) -> None:
        self.app = app
        self.secrets = list(secrets)
        self.fill = {k: list(v) for k, v in fill.items()}
        self.query = dict(query or {})
        self.skip = tuple(skip)
        self.max_urls = max_urls
        self.max_combinations = max_combinations

    def _skipped(self, url: str) -> bool:
        path = urlsplit(url).path
        return any(path == s or path.startswith(s.rstrip("/") + "/") for s in self.skip)

    def route_urls(self, result: ScanResult) -> list[str]:
        """The URLs of every GET route, parameters filled (several values → several URLs)."""
        urls: list[str] = []
        for path, route in _routes(self.app.routes):
            if self._skipped(path):
                continue
            names = PARAM.findall(path)
            choices = [self.fill.get(n, []) for n in names]
            if any(not c for c in choices):
                result.unfilled.append(path)
                continue
            declared = {p.name for p in getattr(getattr(route, "dependant", None),
                                                 "query_params", [])}
            extra = {k: v for k, v in self.query.items() if k in declared}
            for values in islice(product(*choices), self.max_combinations):
                url = _fill(path, dict(zip(names, values, strict=True)))
                urls.append(url)
                if extra:
                    urls.append(f"{url}?{urlencode(extra)}")
        return urls

    def run(self, extra_urls: Iterable[str] = ()) -> ScanResult:
        result = ScanResult()
        queue = [*self.route_urls(result), *extra_urls]
        seen: set[str] = set()
        with TestClient(self.app, raise_server_exceptions=False,
                        follow_redirects=False) as client:
            while queue and len(seen) < self.max_urls:
                url = queue.pop(0)
                if url in seen or self._skipped(url):
                    continue
                seen.add(url)
                response = client.get(url)
                status = response.status_code
                if status in (401, 403):
                    result.private.append(url)
                    continue
                if 300 <= status < 400:
                    target = response.headers.get("location", "")
                    if "login" in target:
                        result.private.append(url)
                    elif urlsplit(urljoin(BASE + url, target)).netloc == "testserver":
                        moved = urlsplit(urljoin(BASE + url, target))
                        queue.append(moved.path + (f"?{moved.query}" if moved.query else ""))
                    continue
                if status >= 500:
                    result.errors.append(f"{url}: {status}")
                    continue
                kind = response.headers.get("content-type", "")
                text = readable(response.content, kind)
                for name, value in response.headers.items():  # e.g. Content-Disposition
                    if name.lower() not in ("content-length", "date"):
                        text += f"\n{name}: {value}"
                if 200 <= status < 300:
                    result.public.append(url)
                    result.bodies[url] = text
                    queue.extend(links_in(response.content, kind, url))
                else:
                    result.refused.append(f"{url}: {status}")
                # A 4xx answer is public too: it must not echo personal data either.
                result.hits.extend(scan_text(url, text, self.secrets))
        return result
