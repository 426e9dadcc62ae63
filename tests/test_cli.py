"""The ``beffroi`` command line, as a user runs it, on the suite's engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from beffroi.cli import app

runner = CliRunner()
COMMANDS = ("version", "db", "territory", "import", "mappings", "rollups", "serve", "demo",
            "simulate", "worker", "dead-letters", "mqtt-user")


def run(db_url: str, *args: str) -> str:
    result = runner.invoke(app, ["--database-url", db_url, *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_help_lists_every_command_with_its_purpose() -> None:
    out = runner.invoke(app, ["--help"]).output
    lines = {line.split()[1]: line for line in out.splitlines()
             if len(line.split()) > 2 and line.split()[1] in COMMANDS}
    assert set(lines) == set(COMMANDS)
    for name, line in lines.items():
        assert len(line.split()) > 3, f"{name} has no one-line purpose"


def test_db_upgrade_on_an_empty_sqlite_file_then_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert "migrated from empty" in run(url, "db", "upgrade")
    assert "already at revision" in run(url, "db", "upgrade")
    out = run(url, "db", "current")
    head = out.split("latest:")[1].strip()
    assert out.startswith(f"database: {head}")


def test_territory_create_and_list(db_url: str) -> None:
    assert "nantes" in run(db_url, "territory", "create", "nantes", "--name", "Nantes Métropole")
    assert "Nantes Métropole" in run(db_url, "territory", "list")


def test_import_reports_bad_lines_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    header = ("numero,type_lampe,type_foyer,designation,puissance_w,nom_voie,lib_com,lib_pole,"
              "ltype_support,hauteur_support,nb_lampes,lat,lon\n")
    good = "EP1,LED,X,LED 30,30,Rue A,Nantes,P,MAT,7.0,1,47.2775,-1.5119\n"
    bad = "EP2,LED,X,LED 30,trente,Rue B,Nantes,P,MAT,7.0,1,47.2776,-1.5118\n"
    file = tmp_path / "luminaires.csv"
    file.write_text(header + good + bad, encoding="utf-8")
    first = run(db_url, "import", "nantes-luminaires", str(file), "-t", "nantes")
    assert "1 assets created" in first and "1 bad rows" in first
    assert "line 3: puissance_w: 'trente' is not a valid float" in first
    again = run(db_url, "import", "nantes-luminaires", str(file), "-t", "nantes")
    assert "0 assets created, 0 updated, 1 unchanged" in again


def test_mappings_lists_the_shipped_ones() -> None:
    out = runner.invoke(app, ["mappings"]).output
    for name in ("nantes-lamps", "nantes-luminaires", "edinburgh-litter-bins",
                 "paris-road-counters"):
        assert name in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["import", "no-such-mapping", "pyproject.toml", "-t", "x"], "no-such-mapping"),
        (["territory", "create", "Bad Code!", "--name", "x"], "code"),
    ],
)
def test_errors_are_one_clear_message_and_exit_2(db_url: str, args: list[str],
                                                 words: str) -> None:
    """Through the real console script: no traceback, the reason, exit status 2."""
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "beffroi.cli", "--database-url", db_url, *args],
        capture_output=True, text=True, cwd=repo, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and words in proc.stderr


def test_territories_get_the_configured_time_zone(db_url: str, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.setenv("BEFFROI_TIMEZONE", "Europe/London")
    run(db_url, "territory", "create", "edinburgh", "--name", "Edinburgh")
    run(db_url, "territory", "create", "nantes", "--name", "Nantes", "--timezone", "Europe/Paris")
    listing = run(db_url, "territory", "list")
    assert "Europe/London" in listing and "Europe/Paris" in listing


def test_a_file_in_the_wrong_encoding_is_one_clear_error(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "latin1.csv"
    file.write_bytes("numero,nom_voie\nEP1,Rue de l'Église\n".encode("latin-1"))
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "beffroi.cli", "--database-url", db_url, "import",
         "nantes-luminaires", str(file), "-t", "nantes"],
        capture_output=True, text=True, cwd=repo, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "line 2: the file is not utf-8" in proc.stderr and "encoding" in proc.stderr


def test_dead_letters_list_counts_and_replay(db_url: str, services: object) -> None:
    from beffroi.api.deps import Services
    from beffroi.assets.models import AssetIn, TerritoryIn
    from beffroi.ingest.service import Message
    from tests.conftest import lamp

    assert isinstance(services, Services)
    services.registry.create_territory(TerritoryIn(code="testville", name="T"))
    reading = {"asset": "urn:ngsi-ld:Streetlight:testville:L1", "metric": "activePower",
               "ts": 1_704_402_000_000, "value": 3}
    services.pipeline.process([Message("testville", "readings", orjson.dumps([reading]))])
    assert "unknown_asset" in run(db_url, "dead-letters", "counts", "-t", "testville")
    listing = runner.invoke(app, ["--database-url", db_url, "dead-letters", "list", "-t",
                                  "testville"], env={"COLUMNS": "300"}).output
    assert "unknown asset 'urn:ngsi-ld:Streetlight:testville:L1'" in listing
    assert "0 replayed, 1 still rejected" in run(
        db_url, "dead-letters", "replay", "-t", "testville", "--reason", "unknown_asset")
    services.registry.create_asset("testville", AssetIn.model_validate(lamp("L1")))
    assert "1 replayed, 0 still rejected" in run(
        db_url, "dead-letters", "replay", "-t", "testville", "1")
