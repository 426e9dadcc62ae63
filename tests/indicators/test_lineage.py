"""Lineage: stored values name their definition version and inputs; explanations in plain
words; recomputation on the same data gives the identical value and fingerprint; the API and
the CLI expose all of it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from beffroi.api.deps import Services
from beffroi.auth.models import Role
from beffroi.cli import app as cli_app
from tests.indicators.conftest import MIN, H, Rig, local

ENERGY = """
indicators:
  - id: energy
    name: {fr: "Énergie de l'éclairage", en: "Lighting energy"}
    source: "Cabinet meters"
    unit: kWh
    series: {types: [StreetlightControlCabinet], metric: energyConsumed}
    aggregate: sum
    params: {scale: 1}
    target: "<= 20"
"""


def _feed(rig: Rig) -> str:
    cab = rig.asset("StreetlightControlCabinet", "C1")
    t = local("2026-01-10 00:00")
    rig.feed(*[(cab, "energyConsumed", t + i * H, 1234.5) for i in range(10)])
    return cab


def test_explain_recompute_and_versions(rig: Rig) -> None:
    cab = _feed(rig)
    rig.define(ENERGY)
    ind = rig.services.indicators
    w = rig.window("2026-01")
    first = rig.value("energy", "2026-01")
    assert first.value == 12345.0

    fr = ind.explain(rig.code, "energy", w, "fr")
    text = fr["text"]
    assert "Énergie de l'éclairage (mois 2026-01) = 12\u202f345 kWh." in text
    assert "du 2026-01-01T00:00+01:00 au 2026-02-01T00:00+01:00 (Europe/Paris)" in text
    assert "Somme de 10 relevés" in text and "non atteint" in text
    assert first.version[:12] in text and first.lineage.inputs_hash[:16] in text
    assert "Source de la formule : Cabinet meters" in text
    en = ind.explain(rig.code, "energy", w, "en")["text"]
    assert "Lighting energy (month 2026-01) = 12,345 kWh." in en and "not met" in en
    assert fr["lineage"]["inputs"]["series_selected"] == 1
    assert fr["definition"]["target"] == "<= 20"

    check = ind.verify(rig.code, "energy", w)
    assert check["identical"] and check["recomputed"] == 12345.0

    # New data in the window: the stored value no longer matches its inputs.
    rig.feed((cab, "energyConsumed", local("2026-01-20 12:00") + 5 * MIN, 5.0))
    changed = ind.verify(rig.code, "energy", w)
    assert not changed["identical"] and changed["recomputed"] == 12350.0
    assert changed["stored_inputs_hash"] != changed["recomputed_inputs_hash"]

    # A new version of the definition: the old value still explains with its own version.
    rig.define(ENERGY.replace("scale: 1", "scale: 0.001").replace("kWh", "MWh"))
    assert len(ind.versions(rig.code, "energy")) == 2
    old = ind.explain(rig.code, "energy", w, "en", compute_if_missing=False)
    assert old["value"]["version"] == first.version and old["definition"]["unit"] == "kWh"
    new = rig.value("energy", "2026-01")
    assert new.version != first.version and new.value == 12.35 and new.unit == "MWh"
    again = ind.verify(rig.code, "energy", w)
    assert again["identical"] and again["version"] == new.version


def test_api(services: Services, rig: Rig, as_role: object) -> None:
    _feed(rig)
    admin = as_role(Role.ADMINISTRATOR)  # type: ignore[operator]
    viewer = as_role(Role.VIEWER)  # type: ignore[operator]
    base = f"/api/v1/territories/{rig.code}"
    r = admin.post(f"{base}/indicators/defaults")
    assert r.status_code == 200, r.text
    assert "lighting-energy" in r.json()["created"]
    bad = admin.post(f"{base}/indicators", json={"id": "x", "name": "X", "unit": "u",
                                                 "aggregate": "sum",
                                                 "series": {"metric": "pm10"}})
    assert bad.status_code == 422
    assert bad.json()["details"][0]["field"] == "series"
    assert viewer.post(f"{base}/indicators/compute", json={}).status_code == 403
    r = admin.post(f"{base}/indicators/compute",
                   json={"indicators": ["lighting-energy"], "label": "2026-01"})
    assert r.status_code == 200, r.text
    assert r.json()[0]["value"] == 12345.0
    r = viewer.get(f"{base}/indicators/values", params={"indicator": "lighting-energy"})
    assert [v["label"] for v in r.json()] == ["2026-01"]
    r = viewer.get(f"{base}/indicators/lighting-energy/values/2026-01/explain",
                   params={"lang": "en"})
    assert r.status_code == 200 and "Public-lighting energy (month 2026-01)" in r.json()["text"]
    r = admin.post(f"{base}/indicators/lighting-energy/values/2026-01/verify")
    assert r.json()["identical"] is True
    r = viewer.get(f"{base}/indicators/lighting-energy/values/2026-13/explain")
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "period"
    r = admin.put(f"{base}/indicators/lighting-energy/active", json={"active": False})
    assert r.json()["active"] is False


def test_cli(services: Services, rig: Rig, tmp_path: Path, db_url: str) -> None:
    _feed(rig)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        r = runner.invoke(cli_app, ["--database-url", db_url, *args], env={"COLUMNS": "250"})
        assert r.exit_code == code, r.output
        return r.output

    f = tmp_path / "kpi.yaml"
    f.write_text(ENERGY.replace("aggregate: sum", "aggregate: summ"), encoding="utf-8")
    assert f"{f}:8: indicators[0].aggregate" in run("kpi", "validate", str(f), code=1)
    f.write_text(ENERGY, encoding="utf-8")
    assert "1 created" in run("kpi", "load", str(f), "-t", rig.code)
    assert "12,345" in run("kpi", "compute", "-t", rig.code, "--label", "2026-01")
    out = run("kpi", "explain", "-t", rig.code, "energy", "2026-01", "--lang", "en")
    assert "Sum of 10 readings" in out
    assert "identical" in run("kpi", "verify", "-t", rig.code, "energy", "2026-01")


def test_unknown_territory_and_indicator(client: TestClient) -> None:
    r = client.get("/api/v1/territories/nowhere/indicators")
    assert r.status_code == 404


CONTRACT = """contract:
  id: perf
  title: Marché de performance — éclairage
  parties: [Testville, Lumière SA]
  start: "2026-01-01"
  years: 12
  clauses:
    - ref: "art. 7.1"
      indicator: lighting-energy
      comparator: "<="
      targets: {1: 10000, "2-12": 8000}
      penalty: {per_unit: 2, step: 1, cap: 50000}
    - ref: "art. 7.2"
      indicator: platform-availability
      comparator: ">="
      targets: {"1-12": 99}
"""


def test_contract_report_through_the_api(services: Services, rig: Rig, as_role: object,
                                         tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    _feed(rig)  # 12,345 kWh in January 2026: 2,345 over the year-1 target of 10,000
    admin = as_role(Role.ADMINISTRATOR)  # type: ignore[operator]
    viewer = as_role(Role.VIEWER)  # type: ignore[operator]
    base = f"/api/v1/territories/{rig.code}"
    assert admin.post(f"{base}/indicators/defaults").status_code == 200
    import yaml

    body = yaml.safe_load(CONTRACT)["contract"]
    assert viewer.put(f"{base}/contracts/perf", json=body).status_code == 403
    r = admin.put(f"{base}/contracts/perf", json=body)
    assert r.status_code == 200, r.text
    bad = admin.put(f"{base}/contracts/perf", json={**body, "years": 0})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "years"
    r = viewer.get(f"{base}/contracts/perf/report", params={"year": 1, "lang": "en"})
    assert r.status_code == 200, r.text
    rep = r.json()
    energy, avail = rep["lines"]
    assert rep["period_label"] == "C2026-01-01" and rep["year_index"] == 1
    assert energy["achieved"] == 12345.0 and energy["target"] == 10000.0
    assert energy["gap"] == 2345.0 and energy["met"] is False
    assert energy["penalty_eur"] == 4690.0 and rep["total_penalty_eur"] == 4690.0
    assert "Sum of 10 readings" in energy["explanation"]
    assert avail["penalty_eur"] == 0.0  # no penalty clause
    assert any(d["domain"] == "lighting" for d in rep["footprint"])
    html = viewer.get(f"{base}/contracts/perf/report", params={"year": 1, "format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert "Marché de performance" in html.text and "4\u202f690,00\u00a0€" in html.text
    pdf = viewer.get(f"{base}/contracts/perf/report", params={"year": 1, "format": "pdf"})
    assert pdf.headers["content-type"] == "application/pdf"
    doc = pdfium.PdfDocument(pdf.content)
    assert len(doc) >= 1
    text = doc[0].get_textpage().get_text_range()
    assert "art. 7.1" in text and "€" in text
    image = doc[0].render(scale=1).to_pil().convert("L")
    dark = sum(image.histogram()[:128])
    assert dark > 2000  # a page with text and table, not blank
    out = Path("test-artifacts") / "reports"
    out.mkdir(parents=True, exist_ok=True)
    image.save(out / "contract-report-api-page1.png")
