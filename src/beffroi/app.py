"""The web application: ``create_app(settings)`` builds the services once and wires routes."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError

from beffroi import __version__
from beffroi.api.deps import Services
from beffroi.api.responses import JSONBody
from beffroi.assets import api as assets_api
from beffroi.assets.service import Registry
from beffroi.auth import api as auth_api
from beffroi.auth.audit import AuditLog
from beffroi.auth.service import Auth
from beffroi.citizens import api as citizens_api
from beffroi.citizens.service import Citizens
from beffroi.commands import api as commands_api
from beffroi.commands.service import Commands
from beffroi.errors import BeffroiError
from beffroi.indicators import api as indicators_api
from beffroi.indicators import footprint_api
from beffroi.indicators.footprint_service import Footprint
from beffroi.indicators.platform import PlatformSampler
from beffroi.indicators.service import Indicators
from beffroi.ingest import api as ingest_api
from beffroi.ingest.service import Pipeline
from beffroi.logs import CorrelationMiddleware
from beffroi.opendata import api as opendata_api
from beffroi.opendata.service import OpenData
from beffroi.operations import api as operations_api
from beffroi.operations.service import Operations
from beffroi.rules import api as rules_api
from beffroi.rules.service import Rules
from beffroi.settings import Settings
from beffroi.store import Store, open_store
from beffroi.telemetry import api as telemetry_api
from beffroi.telemetry.service import Telemetry
from beffroi.timeutil import Clock
from beffroi.web import app as web

log = logging.getLogger("beffroi")
SAMPLE_EVERY_S = 60.0
KPI_CHECK_S = 60.0


def build_services(settings: Settings, store: Store | None = None,
                   clock: Clock | None = None) -> Services:
    store = store or open_store(settings.database_url)
    clock = clock or Clock()
    audit = AuditLog(store, clock)
    registry = Registry(store, settings.timezone, audit)
    telemetry = Telemetry(store, registry, settings)
    pipeline = Pipeline(store, registry, telemetry)
    auth = Auth(store, settings, audit, clock)
    rules = Rules(store, registry, telemetry, audit, clock)
    commands = Commands(store, registry, settings, audit, clock)
    operations = Operations(store, registry, rules, commands, audit, clock)
    indicators = Indicators(store, registry, telemetry, audit, clock)
    footprint = Footprint(store, registry, audit, clock)
    citizens = Citizens(store, registry, operations, audit, clock, settings)
    opendata = OpenData(store, registry, telemetry, indicators, citizens, clock, settings)
    pipeline.handlers.append(rules.on_rows)
    return Services(settings=settings, store=store, registry=registry, telemetry=telemetry,
                    pipeline=pipeline, clock=clock, audit=audit, auth=auth, rules=rules,
                    commands=commands, operations=operations, indicators=indicators,
                    footprint=footprint, citizens=citizens, opendata=opendata)


class RollupWorker:
    """Materialises rollups and creates partitions ahead, every ``interval_s`` seconds."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollups", daemon=True)
        # Indicators run in their own thread: a month of a metropolis takes tens of seconds,
        # which must not hold back silence checks, command time-outs and SLA escalations.
        self._kpi_thread = threading.Thread(target=self._run_indicators, name="indicators",
                                            daemon=True)
        self.sampler = PlatformSampler(f"api@{socket.gethostname()}:{os.getpid()}"[:64])
        self._handed_off = 0
        self._last_sample = 0.0

    def start(self) -> None:
        self._thread.start()
        self._kpi_thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._kpi_thread.join(timeout=60)

    def _run_indicators(self) -> None:
        while not self._stop.wait(KPI_CHECK_S):
            try:
                self.services.indicators.tick()  # computes every 15 minutes
            except Exception:  # the edge of a worker loop
                log.exception("scheduled indicators failed")
            try:
                self.services.footprint.tick()  # the retention purge, every 6 hours
            except Exception:  # the edge of a worker loop
                log.exception("scheduled retention purge failed")

    def _run(self) -> None:
        interval = self.services.settings.rollup_interval_s
        while not self._stop.wait(interval):
            try:
                if not self.services.store.is_sqlite:
                    from beffroi.store.partitions import ensure_ahead

                    services = self.services
                    ensure_ahead(services.store, services.settings.partitions_ahead_months)
                self.services.telemetry.materialise()
            except Exception:  # the edge of a worker loop: log and try again next time
                log.exception("rollup materialisation failed")
            self.tick()

    def sample(self) -> None:
        """Once a minute: the platform's heartbeat, CPU time and readings stored since the last
        sample (platform availability and the compute part of the footprint)."""
        if time.monotonic() - self._last_sample < SAMPLE_EVERY_S:
            return
        self._last_sample = time.monotonic()
        done = self.services.pipeline.rows_handed_off
        try:
            self.sampler.sample(self.services.store, self.services.clock(),
                                done - self._handed_off)
            self._handed_off = done
        except Exception:  # the edge of a worker loop
            log.exception("platform sample failed")

    def tick(self) -> None:
        """The periodic passes of rules (silence), commands (time-outs) and incidents (SLA),
        and the platform's sample."""
        self.sample()
        services = self.services
        for name, step in (("rules", services.rules.tick), ("commands", services.commands.tick),
                           ("operations", services.operations.tick),
                           ("citizens", services.citizens.tick)):
            try:
                step()
            except Exception:  # the edge of a worker loop
                log.exception("periodic pass failed", extra={"pass": name})


def _error_response(exc: BeffroiError) -> JSONBody:
    return JSONBody(exc.to_dict(), status_code=exc.status)


def _validation_response(exc: RequestValidationError) -> JSONBody:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        details.append({"field": ".".join(loc) or "body", "reason": message})
    return JSONBody(
        {"error": "validation_failed", "message": "invalid request", "details": details},
        status_code=422,
    )


def create_app(settings: Settings, *, services: Services | None = None,
               background: bool = True) -> FastAPI:
    services = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = RollupWorker(services) if background else None
        web = getattr(app.state, "web", None)
        if worker:
            worker.start()
            services.commands.start()  # the MQTT link commands go out and acks come back on
            if web is not None:  # large territories: their first map need not wait
                web.cache.warm_large()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            services.commands.stop()
            if web is not None:  # background work ends before the store goes
                web.cache.close()
                web.hub.close()

    app = FastAPI(
        title="Beffroi API",
        version=__version__,
        description="Urban hypervision platform: territories, assets, telemetry.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(CorrelationMiddleware)

    @app.exception_handler(BeffroiError)
    async def _beffroi_error(_request: Request, exc: BeffroiError) -> JSONBody:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_request: Request, exc: RequestValidationError) -> JSONBody:
        return _validation_response(exc)

    @app.get("/health", tags=["system"])
    def health() -> dict[str, Any]:
        from sqlalchemy import text

        with services.store.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": services.store.dialect}

    app.include_router(assets_api.router, prefix="/api/v1")
    app.include_router(telemetry_api.router, prefix="/api/v1")
    app.include_router(ingest_api.router, prefix="/api/v1")
    app.include_router(auth_api.router, prefix="/api/v1")
    app.include_router(rules_api.router, prefix="/api/v1")
    app.include_router(operations_api.router, prefix="/api/v1")
    app.include_router(commands_api.router, prefix="/api/v1")
    app.include_router(indicators_api.router, prefix="/api/v1")
    app.include_router(footprint_api.router, prefix="/api/v1")
    app.include_router(citizens_api.router, prefix="/open311/v2")
    app.include_router(citizens_api.admin_router, prefix="/api/v1")
    app.include_router(opendata_api.router, prefix="/open-data")
    web.mount(app)
    app.include_router(ingest_api.metrics_router)
    return app
