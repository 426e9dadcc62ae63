"""HTTP routes of the commands package (no SQL here: they call the service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from beffroi.api.deps import CommandsDep, Cursor, Limit
from beffroi.assets.models import Page
from beffroi.auth.access import allow
from beffroi.auth.models import Principal, Role
from beffroi.commands.models import BatchOut, CatalogueEntry, CommandIn, CommandOut

router = APIRouter(tags=["commands"])

Sender = Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR)]
Reader = Annotated[Principal, allow(Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR,
                                    Role.VIEWER)]


@router.get("/territories/{code}/assets/{urn}/commands/catalogue",
            summary="Commands this caller may send to this asset, with their parameters")
def command_catalogue(code: str, urn: str, commands: CommandsDep, principal: Reader
                      ) -> list[CatalogueEntry]:
    return commands.catalogue(code, principal, urn)


@router.post("/territories/{code}/commands", status_code=status.HTTP_202_ACCEPTED,
             summary="Send a command to assets (urns) or a group (selector)")
def send_command(code: str, data: CommandIn, commands: CommandsDep, principal: Sender
                 ) -> BatchOut:
    """One command per asset, sharing a batch id; each is published over MQTT and then
    acknowledged by its device, failed, or timed out (see its ``state``)."""
    return commands.send(code, principal, command=data.command, params=data.params,
                         urns=data.urns, selector=data.selector, timeout_s=data.timeout_s)


@router.get("/territories/{code}/commands", summary="Commands, newest first")
def list_commands(
    code: str, commands: CommandsDep, principal: Reader,
    state: Annotated[str | None, Query(description="pending, sent, acknowledged, failed, "
                                                   "timed_out or cancelled")] = None,
    asset: Annotated[str | None, Query(description="URN of the asset")] = None,
    batch: Annotated[str | None, Query(description="Batch id of a send")] = None,
    limit: Limit = 100, cursor: Cursor = None,
) -> Page[CommandOut]:
    items, next_cursor = commands.list_commands(code, state=state, urn=asset, batch_id=batch,
                                                cursor=cursor, limit=limit)
    return Page[CommandOut](items=items, next_cursor=next_cursor)


@router.get("/territories/{code}/commands/batches/{batch_id}",
            summary="A batch (one send) with its commands and their states")
def get_batch(code: str, batch_id: str, commands: CommandsDep, principal: Reader) -> BatchOut:
    return commands.batch(code, batch_id)


@router.get("/territories/{code}/commands/{command_id}", summary="One command")
def get_command(code: str, command_id: int, commands: CommandsDep, principal: Reader
                ) -> CommandOut:
    return commands.get(code, command_id)


@router.post("/territories/{code}/commands/{command_id}/cancel",
             summary="Cancel a command still pending or sent")
def cancel_command(code: str, command_id: int, commands: CommandsDep, principal: Sender
                   ) -> CommandOut:
    return commands.cancel(code, principal, command_id)
