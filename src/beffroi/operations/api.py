"""HTTP routes of the operations package (no SQL here: they call the service).

Every path names its territory (``/territories/{code}/…``), so ``allow`` checks the caller's
role in that territory; the service then refuses (404) an incident or work order id of another
territory and checks the finer rules (an operator acts for its own control posts, a field
agent on its own work orders).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from beffroi.api.deps import Cursor, Limit, OperationsDep
from beffroi.assets.models import Page
from beffroi.auth.access import READERS, allow
from beffroi.auth.models import Principal, Role
from beffroi.operations.models import (
    AssignIn,
    Category,
    CategoryIn,
    Comment,
    CommentIn,
    CrisisActivation,
    CrisisPlan,
    CrisisPlanIn,
    Incident,
    IncidentDetail,
    IncidentIn,
    Post,
    PostIn,
    PostPatch,
    Routing,
    RoutingIn,
    StepIn,
    WorkOrder,
    WorkOrderIn,
    WorkOrderStepIn,
)

router = APIRouter()

INCIDENT = "/territories/{code}/incidents/{incident_id}"
WORK_ORDER = "/territories/{code}/work-orders/{wo_id}"

Reader = Annotated[Principal, allow(*READERS)]
Configurer = Annotated[Principal, allow(Role.SUPERVISOR)]
Actor = Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR)]
FieldActor = Annotated[Principal, allow(Role.FIELD_AGENT, Role.OPERATOR, Role.SUPERVISOR)]


# --- control posts, routings, categories --------------------------------------------------------


@router.get("/territories/{code}/posts", tags=["control posts"])
def list_posts(code: str, ops: OperationsDep, principal: Reader) -> list[Post]:
    return ops.list_posts(code, principal)


@router.post("/territories/{code}/posts", status_code=201, tags=["control posts"])
def add_post(code: str, data: PostIn, ops: OperationsDep, principal: Configurer) -> Post:
    return ops.add_post(code, data, principal)


@router.patch("/territories/{code}/posts/{post}", tags=["control posts"])
def update_post(code: str, post: str, patch: PostPatch, ops: OperationsDep,
                principal: Configurer) -> Post:
    return ops.update_post(code, post, patch, principal)


@router.delete("/territories/{code}/posts/{post}", status_code=204, tags=["control posts"])
def delete_post(code: str, post: str, ops: OperationsDep, principal: Configurer) -> Response:
    ops.delete_post(code, post, principal)
    return Response(status_code=204)


@router.get("/territories/{code}/routings", tags=["control posts"])
def list_routings(code: str, ops: OperationsDep, principal: Reader) -> list[Routing]:
    return ops.list_routings(code, principal)


@router.put("/territories/{code}/routings", tags=["control posts"],
            summary="Set routings (a null post removes one); returns them all")
def set_routings(code: str, items: list[RoutingIn], ops: OperationsDep,
                 principal: Configurer) -> list[Routing]:
    return ops.set_routings(code, items, principal)


@router.get("/territories/{code}/incident-categories", tags=["control posts"])
def list_categories(code: str, ops: OperationsDep, principal: Reader) -> list[Category]:
    return ops.list_categories(code, principal)


@router.put("/territories/{code}/incident-categories/{category}", tags=["control posts"],
            summary="Create or replace a category (its post and SLA targets)")
def set_category(code: str, category: str, data: CategoryIn, ops: OperationsDep,
                 principal: Configurer) -> Category:
    return ops.set_category(code, category, data, principal)


# --- incidents ----------------------------------------------------------------------------------


@router.get("/territories/{code}/incidents", tags=["incidents"])
def list_incidents(
    code: str, ops: OperationsDep, principal: Reader,
    post: str | None = None,
    state: Annotated[str | None, Query(
        description="A step (reported … closed) or 'open' (not yet resolved).")] = None,
    category: str | None = None,
    assignee: str | None = None,
    asset: Annotated[str | None, Query(
        description="An asset's URN: incidents about it, or gathering one of its alarms."
    )] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Incident]:
    return ops.list_incidents(code, principal, post=post, state=state, category=category,
                              assignee=assignee, asset=asset, cursor=cursor, limit=limit)


@router.post("/territories/{code}/incidents", status_code=201, tags=["incidents"])
def open_incident(code: str, data: IncidentIn, ops: OperationsDep, principal: Actor
                  ) -> IncidentDetail:
    return ops.open_incident(code, data, principal)


@router.get(INCIDENT, tags=["incidents"],
            summary="An incident with its steps, alarms, comments, escalations, SLA and work "
                    "orders")
def get_incident(code: str, incident_id: int, ops: OperationsDep, principal: Reader
                 ) -> IncidentDetail:
    return ops.get_incident(code, incident_id, principal)


@router.post(f"{INCIDENT}/steps", tags=["incidents"])
def step_incident(code: str, incident_id: int, data: StepIn, ops: OperationsDep,
                  principal: Actor) -> IncidentDetail:
    return ops.step(code, incident_id, data.step, principal, data.note)


@router.post(f"{INCIDENT}/assign", tags=["incidents"])
def assign_incident(code: str, incident_id: int, data: AssignIn, ops: OperationsDep,
                    principal: Actor) -> IncidentDetail:
    return ops.assign(code, incident_id, data, principal)


@router.post(f"{INCIDENT}/comments", status_code=201, tags=["incidents"])
def comment_incident(code: str, incident_id: int, data: CommentIn, ops: OperationsDep,
                     principal: Actor) -> Comment:
    return ops.comment(code, incident_id, data, principal)


@router.get(f"{INCIDENT}/work-orders", tags=["work orders"],
            summary="The incident's work orders (a field agent sees its own)")
def incident_work_orders(code: str, incident_id: int, ops: OperationsDep, principal: Reader
                         ) -> list[WorkOrder]:
    return ops.get_incident(code, incident_id, principal).work_orders


@router.post(f"{INCIDENT}/work-orders", status_code=201, tags=["work orders"])
def create_work_order(code: str, incident_id: int, data: WorkOrderIn, ops: OperationsDep,
                      principal: Actor) -> WorkOrder:
    return ops.create_work_order(code, incident_id, data, principal)


# --- work orders --------------------------------------------------------------------------------


@router.get("/territories/{code}/work-orders", tags=["work orders"],
            summary="Work orders, newest first (a field agent sees its own)")
def list_work_orders(
    code: str, ops: OperationsDep, principal: Reader,
    assignee: str | None = None,
    state: Annotated[str | None, Query(
        description="open, accepted, on_site, done, cancelled ('open': not finished).")] = None,
    post: Annotated[str | None, Query(description="A control post's code.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[WorkOrder]:
    return ops.list_work_orders(code, principal, assignee=assignee, state=state, post=post,
                                cursor=cursor, limit=limit)


@router.get(WORK_ORDER, tags=["work orders"])
def get_work_order(code: str, wo_id: int, ops: OperationsDep, principal: Reader) -> WorkOrder:
    return ops.get_work_order(code, wo_id, principal)


@router.post(f"{WORK_ORDER}/steps", tags=["work orders"],
             summary="accepted, on_site, done (with its closure note) or cancelled")
def step_work_order(code: str, wo_id: int, data: WorkOrderStepIn, ops: OperationsDep,
                    principal: FieldActor) -> WorkOrder:
    return ops.work_order_step(code, wo_id, data.step, principal, data.note)


# --- crisis plans -------------------------------------------------------------------------------


@router.get("/territories/{code}/crisis-plans", tags=["crisis"])
def list_plans(code: str, ops: OperationsDep, principal: Reader) -> list[CrisisPlan]:
    return ops.list_plans(code, principal)


@router.get("/territories/{code}/crisis-plans/{name}", tags=["crisis"])
def get_plan(code: str, name: str, ops: OperationsDep, principal: Reader) -> CrisisPlan:
    return ops.get_plan(code, name, principal)


@router.put("/territories/{code}/crisis-plans/{name}", tags=["crisis"])
def put_plan(code: str, name: str, data: CrisisPlanIn, ops: OperationsDep,
             principal: Configurer) -> CrisisPlan:
    return ops.put_plan(code, name, data, principal)


@router.post("/territories/{code}/crisis-plans/{name}/activate", tags=["crisis"])
def activate_plan(code: str, name: str, ops: OperationsDep, principal: Actor
                  ) -> CrisisActivation:
    return ops.activate(code, name, principal)


@router.post("/territories/{code}/crisis-plans/{name}/deactivate", tags=["crisis"])
def deactivate_plan(code: str, name: str, ops: OperationsDep, principal: Actor
                    ) -> CrisisActivation:
    return ops.deactivate(code, name, principal)


@router.get("/territories/{code}/crisis-activations", tags=["crisis"],
            summary="The activation log, newest first")
def list_activations(code: str, ops: OperationsDep, principal: Reader,
                     plan: str | None = None, limit: Limit = 100) -> list[CrisisActivation]:
    return ops.activations(code, principal, plan, limit)
