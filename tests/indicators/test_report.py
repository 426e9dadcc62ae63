"""The contract report renderer: HTML (structure, French/English formats, escaping, charts,
determinism) and PDF (pages rendered with pdfium, text extracted, images saved for review)."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pypdfium2 as pdfium
import pytest

from beffroi.indicators.models import ContractReport, ReportLine
from beffroi.indicators.report import (
    format_money,
    format_number,
    format_quantity,
    render_html,
    render_pdf,
)

NNBSP = "\u202f"
NBSP = "\u00a0"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"
GENERATED_MS = 1_767_260_700_000  # 2026-01-01T09:45:00Z = 10:45 in Paris


def make_line(clause: str, code: str, name: str, **changes: object) -> ReportLine:
    line = ReportLine(
        clause=clause, indicator=code, name=name, unit="%", comparator=">=", target=95.0,
        achieved=97.25, gap=2.25, met=True, penalty_eur=0.0,
        explanation=f"L’indicateur « {name} » est calculé sur l’année de contrat.",
        history=[("C2023", 94.1), ("C2024", None), ("C2025", 96.8)],
        version="a" * 64, inputs_hash="b" * 64)
    return dataclasses.replace(line, **changes)


def make_report(locale: str = "fr", **changes: object) -> ContractReport:
    lines = [
        make_line("art. 12.1", "lighting_availability", "Disponibilité de l’éclairage public",
                  version="0123456789abcdef" * 4, inputs_hash="fedcba9876543210" * 4,
                  explanation="Le taux de disponibilité est de 97,25 %, au-dessus de "
                              "l’objectif de 95 %.\n\nAucune pénalité n’est due."),
        make_line("art. 12.3", "energy_savings", "Économies d’énergie de l’éclairage",
                  unit="kWh", comparator=">=", target=15000.0, achieved=12345.6,
                  gap=-2654.4, met=False, penalty_eur=12345.0,
                  explanation="Les économies atteignent 12 345,6 kWh pour un objectif de "
                              "15 000 kWh.\nÉcart : −2 654,4 kWh ; pénalité de 5 € par "
                              "tranche de 1 kWh, plafonnée à 12 345 €.\n\n"
                              "Cœur de la clause : l’œuvre d’entretien ≤ 2 h.",
                  history=[("C2022", 14100.0), ("C2023", None), ("C2024", 15250.5),
                           ("C2025", 13020.0), ("C2026", 12345.6)]),
        make_line("art. 14.2", "incident_resolution_p90", "Délai de résolution (p90)",
                  unit="h", comparator="<=", target=4.0, achieved=None, gap=None, met=None,
                  explanation="Pas de donnée : aucun incident n’a été clos sur la période.",
                  history=[("C2024", 3.5), ("C2025", None)]),
    ]
    report = ContractReport(
        territory="Nantes Métropole", territory_code="nantes", contract="EP-2026",
        title="Marché global de performance de l’éclairage public",
        parties=["Nantes Métropole", "Société Lumière & Fils"], period_label="C2026",
        year_index=1, start_local="2026-01-01T00:00:00+01:00",
        end_local="2027-01-01T00:00:00+01:00", lines=lines, total_penalty_eur=12345.0,
        generated_ms=GENERATED_MS, software_version="0.1.0", locale=locale,
        time_zone="Europe/Paris",
        footprint=[
            {"domain": "lighting", "savings_kwh": 182000.0, "footprint_kwh": 5400.0,
             "net_kwh": 176600.0, "savings_kgco2e": 9464.0, "footprint_kgco2e": 280.8,
             "net_kgco2e": 9183.2},
            {"domain": "platform", "savings_kwh": 0.0, "footprint_kwh": 1250.5,
             "net_kwh": -1250.5, "savings_kgco2e": 0.0, "footprint_kgco2e": 65.0,
             "net_kgco2e": -65.0},
        ])
    return dataclasses.replace(report, **changes)


class _Collector(HTMLParser):
    """Checks that elements nest properly and collects text, tags and attributes."""

    VOID: ClassVar[frozenset[str]] = frozenset({
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Collector:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


def test_number_formats() -> None:
    assert format_number(12345.6, "fr") == f"12{NNBSP}345,6"
    assert format_number(12345.6, "en") == "12,345.6"
    assert format_number(-0.5, "fr") == "−0,5"
    assert format_number(2.0, "fr") == "2"
    assert format_number(2.25, "fr", signed=True) == "+2,25"
    assert format_number(None, "fr") == "—"
    assert format_number(float("nan"), "en") == "—"
    assert format_number(1234567.0, "de") == f"1{NNBSP}234{NNBSP}567"  # French by default
    assert format_money(1234.0, "fr") == f"1{NNBSP}234,00{NBSP}€"
    assert format_money(1234.0, "en") == "€1,234.00"
    assert format_money(-5.0, "en") == "−€5.00"
    assert format_quantity(97.25, "%", "fr") == f"97,25{NBSP}%"
    assert format_quantity(None, "%", "fr") == "—"


@pytest.fixture(scope="module")
def french_html() -> str:
    return render_html(make_report())


def test_html_french(french_html: str) -> None:
    html = french_html
    assert html.startswith("<!DOCTYPE html>")
    doc = parse(html)
    text = "".join(doc.text)
    html_tag = next(attrs for tag, attrs in doc.tags if tag == "html")
    assert html_tag["lang"] == "fr"
    assert "<title>Rapport contractuel — Marché global de performance" in html
    # the summary table: caption, header cells with scope, one row per clause
    table = html[html.index('<table class="summary">'):html.index("</table>")]
    assert "<caption>" in table
    assert table.count('<th scope="col"') == 7
    assert table.count('<th scope="row"') == 3 + 1  # the clauses and the total
    for ref, name in (("art. 12.1", "Disponibilité de l’éclairage public"),
                      ("art. 12.3", "Économies d’énergie de l’éclairage"),
                      ("art. 14.2", "Délai de résolution (p90)")):
        assert ref in table
        assert name in table
    rows = re.findall(r"<tr>(.*?)</tr>", table[table.index("<tbody>"):], flags=re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S) for row in rows]
    assert cells[0][2:] == [f"≥{NBSP}95{NBSP}%", f"97,25{NBSP}%", f"+2,25{NBSP}%", "atteint",
                            f"0,00{NBSP}€"]
    assert cells[1][2:] == [f"≥{NBSP}15{NNBSP}000{NBSP}kWh", f"12{NNBSP}345,6{NBSP}kWh",
                            f"−2{NNBSP}654,4{NBSP}kWh", "non atteint",
                            f"12{NNBSP}345,00{NBSP}€"]
    assert cells[2][2:] == [f"≤{NBSP}4{NBSP}h", "—", "—", "pas de donnée", f"0,00{NBSP}€"]
    assert cells[3] == ["Total des pénalités", f"12{NNBSP}345,00{NBSP}€"]  # tfoot
    # per clause: the explanation paragraphs (line breaks kept) and one chart
    assert "<p>Le taux de disponibilité est de 97,25 %" in html
    assert "<p>Aucune pénalité n’est due.</p>" in html
    assert "15 000 kWh.<br>\nÉcart : −2 654,4 kWh" in html
    assert "Cœur de la clause : l’œuvre d’entretien ≤ 2 h." in text
    assert html.count("<svg") == 3 + 1  # one chart per clause and the footprint chart
    svgs = [attrs for tag, attrs in doc.tags if tag == "svg"]
    assert all(attrs.get("role") == "img" and attrs.get("aria-labelledby") for attrs in svgs)
    assert html.count("<title") == 1 + 4
    assert f"Graphique «{NBSP}Économies d’énergie de l’éclairage{NBSP}»" in html
    assert f"C2023{NBSP}: pas de donnée" in html  # the gap is described
    # every chart is well-formed XML with ids unique across the document
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg.replace("<svg ", '<svg xmlns:xlink="http://www.w3.org/1999/xlink" ', 1)
                      if "xmlns:xlink" not in svg else svg)
    ids = [attrs["id"] for _tag, attrs in doc.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', html):
        assert ref in ids
    # footprint: the table per domain with both units, then the traceability footer
    assert "Bilan net par domaine" in html
    assert "Éclairage public" in html and "Plateforme" in html
    assert f"176{NNBSP}600" in html and "−1" + NNBSP + "250,5" in html
    assert f"9{NNBSP}183,2" in html
    assert "Généré le 1 janvier 2026 à 10:45 (Europe/Paris)" in html
    assert "Beffroi 0.1.0" in html
    assert ">0123456789ab</code>" in html and ">fedcba987654</code>" in html
    assert "du 1 janvier 2026 au 31 décembre 2026" in html
    assert "année de contrat 1" in html


def test_html_english() -> None:
    html = render_html(make_report("en"))
    doc = parse(html)
    assert next(attrs for tag, attrs in doc.tags if tag == "html")["lang"] == "en"
    for label in ("Target", "Achieved", "Gap", "Penalty", "Total penalty", "not met",
                  "no data", "Net balance per domain", "Traceability"):
        assert label in html
    assert "Objectif" not in html and "atteint" not in html
    assert f"12,345.6{NBSP}kWh" in html
    assert f"−2,654.4{NBSP}kWh" in html
    assert '<td class="num total-penalty">€12,345.00</td>' in html
    assert "Generated on 1 January 2026 at 10:45 (Europe/Paris)" in html


def test_html_escapes_text() -> None:
    report = make_report(footprint=[])
    for line in report.lines:
        line.history = []  # no chart: faster
    report.lines[0].explanation = 'Avant <script>alert("x")</script> & après'
    report.lines[0].name = "<b>gras</b>"
    report.title = "Contrat <i>test</i>"
    html = render_html(report)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; après" in html
    assert "<b>gras</b>" not in html and "&lt;b&gt;gras&lt;/b&gt;" in html
    assert "<i>test</i>" not in html
    parse(html)


def test_html_is_deterministic(french_html: str) -> None:
    assert render_html(make_report()) == french_html


def test_html_without_footprint_and_history() -> None:
    report = make_report(footprint=[])
    report.lines[2].history = []
    html = render_html(report)
    parse(html)
    assert "Bilan net par domaine" not in html
    assert html.count("<svg") == 2
    assert "Pas d’historique pour cette clause." in html


def _long_report(clauses: int = 8) -> ContractReport:
    report = make_report()
    base = report.lines
    sentence = ("La valeur est calculée heure par heure sur l’ensemble des armoires de commande "
                "du territoire, puis agrégée sur l’année ; les heures sans mesure sont exclues "
                "du dénominateur et signalées dans l’annexe. ")
    lines = []
    for n in range(clauses):
        line = dataclasses.replace(base[n % 3], clause=f"art. {20 + n}.{n % 4 + 1}")
        line.explanation = (sentence * 6 + "\n\n" + sentence * 3).strip()
        if n >= 3:
            line.history = []  # charts cost ~0.15 s each: three are enough
        lines.append(line)
    report.lines = lines
    return report


def _page_text(page: pdfium.PdfPage) -> str:
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_range())
    finally:
        textpage.close()


@pytest.fixture(scope="module")
def long_pdf() -> bytes:
    return render_pdf(_long_report())


@pytest.fixture(scope="module")
def english_pdf() -> bytes:
    return render_pdf(make_report("en"))


def test_pdf(long_pdf: bytes) -> None:
    assert long_pdf.startswith(b"%PDF")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument(long_pdf)
    try:
        assert len(doc) >= 2
        texts = []
        for index in range(len(doc)):
            page = doc[index]
            width, height = page.get_size()
            assert (round(width), round(height)) == (595, 842)  # A4 portrait in points
            picture = page.render(scale=1).to_pil()
            picture.save(ARTIFACTS / f"contract-report-fr-{index + 1}.png")
            image = picture.convert("L")
            histogram = image.histogram()
            pixels = image.width * image.height
            non_white = sum(histogram[:240])
            dark = sum(histogram[:128])
            assert non_white > pixels * 0.01, f"page {index + 1} is blank"
            if index == 0:
                assert dark > pixels * 0.02, "the first page has too little ink"
            texts.append(_page_text(page))
            page.close()
    finally:
        doc.close()
    text = "\n".join(texts).replace(NBSP, " ")
    flat = re.sub(r"[ \t\r\n]+", " ", text)  # keeps the narrow no-break spaces
    assert "Marché global de performance de l’éclairage public" in flat
    assert "art. 20.1" in text and "art. 27.4" in text
    assert f"Total des pénalités : 12{NNBSP}345,00 €" in flat
    assert f"−2{NNBSP}654,4 kWh" in text  # a gap, not broken inside its table cell
    assert "non atteint" in text and "pas de donnée" in text
    assert f"page 1 / {len(texts)}" in texts[0]
    assert f"page {len(texts)} / {len(texts)}" in texts[-1]
    assert "Bilan net par domaine" in flat
    assert "0123456789ab" in text  # the traceability table


def test_pdf_english(english_pdf: bytes) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    doc = pdfium.PdfDocument(english_pdf)
    try:
        texts = []
        for index in range(len(doc)):
            page = doc[index]
            page.render(scale=1).to_pil().save(ARTIFACTS / f"contract-report-en-{index + 1}.png")
            texts.append(_page_text(page))
            page.close()
    finally:
        doc.close()
    text = re.sub(r"[ \t\r\n]+", " ", "\n".join(texts).replace(NBSP, " "))
    assert "Total penalty: €12,345.00" in text
    assert "12,345.6 kWh" in text and "not met" in text
    assert "Net balance per domain" in text
    assert "Objectif" not in text


def test_pdf_is_deterministic(english_pdf: bytes) -> None:
    assert render_pdf(make_report("en")) == english_pdf


def test_pdf_replaces_missing_glyphs() -> None:
    report = make_report(footprint=[])
    for line in report.lines:
        line.history = []
    report.lines[0].explanation = "Caractères hors police : 漢字 et contrôle \x07 fin"
    doc = pdfium.PdfDocument(render_pdf(report))
    try:
        text = "\n".join(_page_text(doc[i]) for i in range(len(doc)))
    finally:
        doc.close()
    text = re.sub(r"[ \t\r\n]+", " ", text.replace(NBSP, " "))
    assert "Caractères hors police : ?? et contrôle fin" in text
