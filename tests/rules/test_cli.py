"""``beffroi rules`` and ``beffroi alarms``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from beffroi.cli import app

runner = CliRunner()


def test_validate_prints_every_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    name: X\n    severity: huge\n"
                   "    when: {kind: threshold, metric: pm10, op: '>', value: 1, for: soon}\n")
    result = runner.invoke(app, ["rules", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: rules[0].severity" in result.output
    assert f"{bad}:5: rules[0].when.for" in result.output


def test_defaults_load_list_and_alarms(db_url: str, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = runner.invoke(app, ["--database-url", db_url, *args], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        return result.output

    run("territory", "create", "clix", "--name", "Clix")
    assert "created" in run("rules", "defaults", "-t", "clix", "-d", "air", "-d", "water")
    again = run("rules", "defaults", "-t", "clix", "-d", "air")
    assert "0 created, 0 updated, 8 unchanged" in again
    mine = tmp_path / "mine.yaml"
    mine.write_text("rules:\n  - id: mine\n    name: Mine\n    severity: minor\n"
                    "    scope: {types: [Camera]}\n"
                    "    when: {kind: state, metric: status, in: [offline]}\n")
    assert "1 created" in run("rules", "load", str(mine), "-t", "clix")
    listed = run("rules", "list", "-t", "clix")
    assert "mine" in listed and "air-o3-alert" in listed
    assert "1 rule(s) switched off" in run("rules", "switch", "-t", "clix", "mine", "--off")
    assert "state" in run("alarms", "list", "-t", "clix", "--open")
