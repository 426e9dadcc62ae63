"""Public open-data routes (mounted at /open-data, no authentication): the DCAT-AP catalog in
JSON-LD and Turtle, an HTML catalog page, one dataset's metadata, and the downloads (streamed,
with ETag and Cache-Control)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from beffroi.errors import NotFound
from beffroi.opendata.service import OpenData

router = APIRouter(tags=["open data"])
JSONLD = "application/ld+json"
TURTLE = "text/turtle; charset=utf-8"
CATALOG_CACHE = "public, max-age=300"
DOWNLOAD_CACHE = "public, max-age=300, must-revalidate"
_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]))


def _opendata(request: Request) -> OpenData:
    service: OpenData = request.app.state.services.opendata
    return service


def _matches(request: Request, etag: str) -> bool:
    given = request.headers.get("if-none-match")
    if not given:
        return False
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return "*" in tags or etag in tags


def _cached(request: Request, body: bytes, media_type: str) -> Response:
    import hashlib

    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": CATALOG_CACHE, "Vary": "Accept-Encoding"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/{code}/catalog.jsonld", summary="DCAT-AP catalog (JSON-LD)")
def catalog_jsonld(code: str, request: Request) -> Response:
    return _cached(request, _opendata(request).catalog(code, "jsonld"), JSONLD)


@router.get("/{code}/catalog.ttl", summary="DCAT-AP catalog (Turtle)")
def catalog_ttl(code: str, request: Request) -> Response:
    return _cached(request, _opendata(request).catalog(code, "ttl"), TURTLE)


@router.get("/{code}", response_class=HTMLResponse, summary="Open-data catalog page (HTML)")
def catalog_page(code: str, request: Request,
                 lang: Annotated[str, Query(pattern="^(fr|en)$")] = "fr") -> Response:
    data = _opendata(request).page(code)
    html = _templates.get_template("catalog.html").render(lang=lang, **data)
    return _cached(request, html.encode(), "text/html; charset=utf-8")


@router.get("/{code}/datasets/{dataset_id}", summary="One dataset's DCAT-AP metadata (JSON-LD)")
def dataset_jsonld(code: str, dataset_id: str, request: Request) -> Response:
    return _cached(request, _opendata(request).catalog(code, "jsonld", only=dataset_id), JSONLD)


@router.get("/{code}/datasets/{dataset_id}/{filename}", summary="Download a distribution",
            response_model=None)
def download(code: str, dataset_id: str, filename: str, request: Request,
             from_: Annotated[str | None, Query(alias="from")] = None,
             to: str | None = None) -> Response:
    distribution, dot, ext = filename.rpartition(".")
    if not dot or not distribution:
        raise NotFound(f"{filename!r} is not a distribution (use data.<format>)")
    d = _opendata(request).download(code, dataset_id, distribution, ext, from_, to)
    headers = {"ETag": d.etag, "Cache-Control": DOWNLOAD_CACHE,
               "Content-Disposition": f'attachment; filename="{d.filename}"'}
    if _matches(request, d.etag):
        d.chunks.close() if hasattr(d.chunks, "close") else None
        return Response(status_code=304, headers=headers)
    media = d.media_type + ("; charset=utf-8" if d.media_type.startswith("text/") else "")
    return StreamingResponse(d.chunks, media_type=media, headers=headers)
