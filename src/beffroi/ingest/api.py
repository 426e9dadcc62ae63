"""Routes of the ingest adapters over HTTP (LoRaWAN network servers' webhooks, NGSI-LD
entities) and of the dead letters. The batch route of readings is in ``telemetry.api``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from beffroi.api.deps import PipelineDep
from beffroi.api.responses import JSONBody
from beffroi.auth.access import allow
from beffroi.auth.models import Role
from beffroi.errors import ValidationFailed, field_error
from beffroi.ingest.service import Message, Outcome

router = APIRouter(tags=["ingest"])
metrics_router = APIRouter(tags=["operations"])


@metrics_router.get("/metrics", summary="Prometheus metrics of the ingest pipeline")
def metrics(pipeline: PipelineDep) -> Response:
    return Response(generate_latest(pipeline.metrics.registry), media_type=CONTENT_TYPE_LATEST)


INGEST_DOC = """Store a batch of readings.

Body: `{"readings": [{"asset": URN, "metric": name, "ts": ISO 8601 or epoch ms, "value": number
or state, "unit": optional UN/CEFACT code}, ...]}`. Valid readings are stored even when others
are rejected; the answer is then **422** and lists each rejected reading's index, field and
reason (each is also kept as a dead letter). A reading already stored (same series and
time) is counted as a duplicate, never stored twice, so a whole batch can be retried safely."""


@router.post(
    "/territories/{code}/observations",
    summary="Ingest a batch of readings",
    dependencies=[allow(Role.DEVICE, Role.ADMINISTRATOR)],
    description=INGEST_DOC,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "example": {
                "readings": [{"asset": "urn:ngsi-ld:Streetlight:nantes:EPNA342002",
                              "metric": "activePower", "ts": "2024-01-04T22:00:00+01:00",
                              "value": 70}]}}}},
        }
    },
)
async def ingest(code: str, request: Request, pipeline: PipelineDep) -> JSONBody:
    body = await request.body()
    report = await run_in_threadpool(pipeline.ingest_batch, code, body)
    status = 422 if report.rejections else 200
    return JSONBody(report.to_dict(), status_code=status)


def _answer(outcome: Outcome) -> JSONBody:
    status = 422 if outcome.error or outcome.rejected else 200
    return JSONBody(outcome.to_dict(), status_code=status)


async def _one(pipeline: Any, message: Message) -> JSONBody:
    (outcome,) = await run_in_threadpool(pipeline.process, [message])
    return _answer(outcome)


@router.post("/territories/{code}/lorawan/chirpstack",
             summary="ChirpStack v4 HTTP integration (uplink events)",
             dependencies=[allow(Role.DEVICE, Role.ADMINISTRATOR)])
async def chirpstack(code: str, request: Request, pipeline: PipelineDep,
                     event: Annotated[str, Query(description="ChirpStack event type")] = "up",
                     ) -> JSONBody:
    """Point a ChirpStack v4 HTTP integration (JSON marshaler) here. ``up`` events whose
    device EUI is an asset's `dev_eui` property become readings of the decoded `object`'s
    fields that are metrics of the asset; other events are acknowledged and ignored."""
    if event != "up":
        return JSONBody({"ignored": f"event {event!r}"})
    body = await request.body()
    return await _one(pipeline, Message(territory=code, kind="chirpstack", payload=body,
                                        source="chirpstack"))


@router.post("/territories/{code}/lorawan/tts",
             summary="The Things Stack v3 webhook (uplink messages)",
             dependencies=[allow(Role.DEVICE, Role.ADMINISTRATOR)])
async def things_stack(code: str, request: Request, pipeline: PipelineDep) -> JSONBody:
    """Point a The Things Stack webhook (JSON) here, with the uplink message enabled. The
    device EUI maps to the asset whose `dev_eui` property it is; the fields of
    `decoded_payload` that are metrics of the asset become readings."""
    body = await request.body()
    return await _one(pipeline, Message(territory=code, kind="tts", payload=body, source="tts"))


@router.post("/territories/{code}/ngsi-ld/entities",
             summary="NGSI-LD entities (Smart Data Models, normalized or keyValues)",
             dependencies=[allow(Role.DEVICE, Role.ADMINISTRATOR)])
async def ngsi_ld(code: str, request: Request, pipeline: PipelineDep) -> JSONBody:
    """An entity or an array of entities: the id is the asset URN, each measured attribute a
    metric, its `observedAt` (or the entity's `dateObserved`) the time, `unitCode` the unit."""
    body = await request.body()
    return await _one(pipeline, Message(territory=code, kind="ngsi-ld", payload=body,
                                        source="http"))


@router.get("/territories/{code}/dead-letters", summary="Rejected input, newest last",
            dependencies=[allow(Role.SUPERVISOR, Role.ADMINISTRATOR)])
def dead_letters(
    code: str, pipeline: PipelineDep,
    reason: Annotated[str | None, Query(description="Only this reason code")] = None,
    pending: Annotated[bool, Query(description="Only those not replayed yet")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int, Query(ge=0, description="next_cursor of the previous page")] = 0,
) -> JSONBody:
    items, next_cursor = pipeline.dead_letters(code, reason, cursor, limit, pending)
    return JSONBody({"items": items, "next_cursor": next_cursor})


@router.get("/territories/{code}/dead-letters/counts", summary="Dead letters per reason",
            dependencies=[allow(Role.SUPERVISOR, Role.ADMINISTRATOR)])
def dead_letter_counts(code: str, pipeline: PipelineDep) -> JSONBody:
    return JSONBody({"reasons": pipeline.dead_letter_counts(code)})


@router.post("/territories/{code}/dead-letters/{letter_id}/replay",
             summary="Run a dead letter through the pipeline again, after a fix",
             dependencies=[allow(Role.ADMINISTRATOR)])
def replay(code: str, letter_id: int, pipeline: PipelineDep) -> JSONBody:
    if letter_id <= 0:
        raise ValidationFailed("bad id", [field_error("letter_id", "a positive integer")])
    return JSONBody(pipeline.replay(code, letter_id))
