"""``beffroi command`` as a user runs it, with a simulated device on the real broker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from beffroi.cli import app
from beffroi.commands.cli import parse_params
from beffroi.commands.device_sim import DeviceSimulator
from beffroi.errors import ValidationFailed
from tests.commands.conftest import needs_broker

runner = CliRunner()


def test_parse_params() -> None:
    assert parse_params(["level=50", "on=true", "message=Car park full", "plan=P1",
                         'entries=[{"at": "06:00", "level": 100}]']) == {
        "level": 50, "on": True, "message": "Car park full", "plan": "P1",
        "entries": [{"at": "06:00", "level": 100}]}
    with pytest.raises(ValidationFailed) as caught:
        parse_params(["level"])
    assert caught.value.details == [{"field": "params.0",
                                     "reason": "'level': key=value expected (e.g. level=50)"}]


@needs_broker
def test_send_then_list(db_url: str, code: str, fleet: dict[str, Any],
                        device: Callable[..., DeviceSimulator]) -> None:
    sim = device(fleet["cabinet"])
    result = runner.invoke(app, ["--database-url", db_url, "command", "send", "-t", code,
                                 "--urn", fleet["cabinet"], "dim", "level=25"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "1 command(s) — 1 acknowledged" in result.output
    assert sim.state[fleet["cabinet"]]["level"] == 25
    listed = runner.invoke(app, ["--database-url", db_url, "command", "list", "-t", code],
                           env={"COLUMNS": "300"})
    assert listed.exit_code == 0 and "acknowledged" in listed.output
    bad = runner.invoke(app, ["--database-url", db_url, "command", "send", "-t", code,
                              "--urn", fleet["cabinet"], "dim", "level=250"])
    assert isinstance(bad.exception, ValidationFailed)
    assert bad.exception.details[0]["field"] == "params.level"
