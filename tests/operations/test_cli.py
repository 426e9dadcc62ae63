"""``beffroi posts``, ``beffroi incidents`` and ``beffroi crisis`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from beffroi.cli import app

runner = CliRunner()


def run(db_url: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--database-url", db_url, *args],
                           env={"COLUMNS": "200"})
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def test_posts_incidents_and_crisis_commands(db_url: str, tmp_path: Path) -> None:
    run(db_url, "territory", "create", "dijon", "--name", "Dijon")
    out = run(db_url, "posts", "list", "-t", "dijon")
    assert "Police municipale" in out and "Snow and ice" in out
    assert "already" in run(db_url, "posts", "defaults", "-t", "dijon")
    assert "port" in run(db_url, "posts", "add", "-t", "dijon", "port", "--fr",
                         "Capitainerie", "--en", "Harbour")
    assert "snow" in run(db_url, "crisis", "list", "-t", "dijon")
    plan = tmp_path / "plans.yaml"
    plan.write_text("plans:\n  storm:\n    title: Tempête\n    post: supervision\n"
                    "    routings: {Camera: police}\n", encoding="utf-8")
    assert "storm" in run(db_url, "crisis", "load", "-t", "dijon", str(plan))
    assert "activated" in run(db_url, "crisis", "activate", "-t", "dijon", "storm")
    assert "deactivated" in run(db_url, "crisis", "deactivate", "-t", "dijon", "storm")
    log = run(db_url, "crisis", "log", "-t", "dijon")
    assert log.count("storm") == 2
    assert "id" in run(db_url, "incidents", "list", "-t", "dijon", "--post", "lighting")
    assert "0 escalation" in run(db_url, "incidents", "sla-check")
    run(db_url, "incidents", "show", "-t", "dijon", "1", code=1)  # no incident 1 in dijon
    plan.write_text("plans: []\n", encoding="utf-8")
    run(db_url, "crisis", "load", "-t", "dijon", str(plan), code=1)
