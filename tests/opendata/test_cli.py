"""``beffroi opendata catalog`` and ``beffroi opendata export``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rdflib import Graph
from rdflib.namespace import DCAT, RDF
from typer.testing import CliRunner

from beffroi.api.deps import Services
from beffroi.cli import app

from .conftest import TOWN, Rig, local

runner = CliRunner()

pytestmark = pytest.mark.filterwarnings(
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning")


def test_catalog_in_both_formats(db_url: str, rig: Rig) -> None:
    rig.asset("Streetlight", "L1")
    for fmt, parser in (("jsonld", "json-ld"), ("ttl", "turtle")):
        result = runner.invoke(app, ["--database-url", db_url, "opendata", "catalog",
                                     "-t", TOWN, "--format", fmt])
        assert result.exit_code == 0, result.output
        g = Graph()
        g.parse(data=result.stdout, format=parser)
        assert len(list(g.subjects(RDF.type, DCAT.Dataset))) >= 4
    bad = runner.invoke(app, ["--database-url", db_url, "opendata", "catalog", "-t", TOWN,
                              "--format", "xml"])
    assert bad.exit_code == 2


def test_export_writes_the_public_download(db_url: str, rig: Rig, services: Services,
                                           tmp_path: Path) -> None:
    counter = rig.asset("TrafficFlowObserved", "C1")
    sid = rig.series(counter, "intensity")
    rig.rollups("rollup_day", [(sid, local("2026-02-10 00:00"), 24, 1.0, 9.0, 100.0),
                               (sid, local("2026-02-11 00:00"), 24, 6.0, 9.0, 180.0)])
    out = tmp_path / "daily.csv"
    result = runner.invoke(app, ["--database-url", db_url, "opendata", "export", "-t", TOWN,
                                 "observations-mobility-daily", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["bucket_start_local"], r["mean"], r["suppressed"]) for r in rows] == [
        ("2026-02-10T00:00:00+01:00", "", "true"),
        ("2026-02-11T00:00:00+01:00", "7.5", "false")]
    assert not (tmp_path / "daily.csv.part").exists()
    pq = tmp_path / "d.parquet"
    assert runner.invoke(app, ["--database-url", db_url, "opendata", "export", "-t", TOWN,
                               "observations-mobility-daily", "-o", str(pq),
                               "--from", "2026-02-11"]).exit_code == 0
    import pyarrow.parquet as parquet

    assert parquet.read_table(pq).num_rows == 1
    unknown = runner.invoke(app, ["--database-url", db_url, "opendata", "export", "-t", TOWN,
                                  "nope", "-o", str(tmp_path / "x.csv")])
    assert unknown.exit_code == 1 and "not found" in unknown.output
    listed = runner.invoke(app, ["--database-url", db_url, "opendata", "list", "-t", TOWN])
    assert "observations-mobility-daily" in listed.output
