"""Contract report renderer: a :class:`ContractReport` as standalone HTML or as a PDF.

Both formats carry the same content: a title block (contract, territory, parties, period), the
summary table of the clauses (target with its comparator, achieved value, gap, met or not met,
penalty in euros) and the total penalty, then per clause its explanation and a chart of the
previous periods with the target, the footprint balance per domain when the report has one, and
the traceability data (generation time, software version, definition version and inputs hash of
every line).

- :func:`render_html` fills the Jinja2 template ``templates/contract_report.html`` (autoescaped)
  with inline CSS and inline SVG charts: one self-contained, accessible, printable file.
- :func:`render_pdf` lays out an A4 portrait document with fpdf2, the charts as PNG images and
  the DejaVu Sans fonts shipped inside matplotlib (no system font is assumed).

Labels are in French (the default, also for unknown locales) or English. Numbers are formatted
for the language: ``12 345,6`` (narrow no-break space, decimal comma) or ``12,345.6``; money as
``1 234,00 €`` or ``€1,234.00``; a missing figure as ``—``.

Charts are drawn with matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), never pyplot
and without changing ``rcParams``, so rendering is safe from several threads and leaves other
users of matplotlib alone. The SVG ids, random by default, are renumbered per chart (unique in
the document and identical from one rendering to the next), so the HTML is deterministic.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace
from markupsafe import Markup, escape
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import FuncFormatter

from beffroi.indicators.models import ContractReport, ReportLine

__all__ = ["LABELS", "format_money", "format_number", "format_quantity", "render_html",
           "render_pdf"]

# --- labels -----------------------------------------------------------------------------------

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "kicker": "Beffroi · rapport contractuel",
        "doc_title": "Rapport contractuel",
        "territory": "Territoire",
        "contract": "Contrat",
        "parties": "Parties",
        "period": "Période",
        "contract_year": "année de contrat {n}",
        "from_to": "du {start} au {end}",
        "from_to_excl": "du {start} au {end} (exclu)",
        "summary": "Synthèse des clauses",
        "summary_caption": "Indicateurs du contrat pour la période {period} : objectif, valeur "
                           "réalisée, écart, respect de l’objectif et pénalité par clause.",
        "clause": "Clause",
        "indicator": "Indicateur",
        "target": "Objectif",
        "achieved": "Réalisé",
        "gap": "Écart",
        "status": "Objectif atteint\u00a0?",
        "penalty": "Pénalité",
        "met": "atteint",
        "not_met": "non atteint",
        "no_data": "pas de donnée",
        "no_target": "sans objectif",
        "total_penalty": "Total des pénalités",
        "no_clauses": "Ce rapport ne contient aucune clause.",
        "details": "Détail par clause",
        "history": "Historique",
        "no_history": "Pas d’historique pour cette clause.",
        "chart_desc": "Graphique «\u00a0{name}\u00a0» par période, en {unit}{target}.",
        "chart_target": ", avec l’objectif {target} en ligne pointillée",
        "chart_values": "Valeurs\u00a0: {values}.",
        "period_axis": "Période",
        "value_legend": "Valeur",
        "target_legend": "Objectif {target}",
        "missing_legend": "Pas de donnée",
        "footprint": "Bilan net par domaine",
        "footprint_intro": "Énergie économisée grâce à la plateforme, empreinte du numérique "
                           "(serveurs, réseau, équipements) et bilan net (économies − empreinte), "
                           "en kWh et en équivalent CO₂.",
        "footprint_caption": "Économies, empreinte et bilan net par domaine, en kWh et kg CO₂e.",
        "domain": "Domaine",
        "savings": "Économies",
        "footprint_col": "Empreinte",
        "net": "Bilan net",
        "total": "Total",
        "footprint_chart_desc": "Diagramme en barres des économies, de l’empreinte et du bilan "
                                "net en kWh pour chaque domaine.",
        "energy_axis": "Énergie (kWh)",
        "traceability": "Traçabilité",
        "trace_caption": "Version de la définition et empreinte des entrées de chaque clause "
                         "(12 premiers caractères).",
        "definition_version": "Version de la définition",
        "inputs_hash": "Empreinte des entrées",
        "generated": "Généré le {when}",
        "software": "Beffroi {version}",
        "page": "page {n} / {total}",
        "at": "à",
        "sep": "\u00a0:",
    },
    "en": {
        "kicker": "Beffroi · contract report",
        "doc_title": "Contract report",
        "territory": "Territory",
        "contract": "Contract",
        "parties": "Parties",
        "period": "Period",
        "contract_year": "contract year {n}",
        "from_to": "from {start} to {end}",
        "from_to_excl": "from {start} to {end} (excluded)",
        "summary": "Summary of the clauses",
        "summary_caption": "Contract indicators for the period {period}: target, achieved "
                           "value, gap, whether the target is met, and penalty per clause.",
        "clause": "Clause",
        "indicator": "Indicator",
        "target": "Target",
        "achieved": "Achieved",
        "gap": "Gap",
        "status": "Target met?",
        "penalty": "Penalty",
        "met": "met",
        "not_met": "not met",
        "no_data": "no data",
        "no_target": "no target",
        "total_penalty": "Total penalty",
        "no_clauses": "This report has no clause.",
        "details": "Clause details",
        "history": "History",
        "no_history": "No history for this clause.",
        "chart_desc": "Chart of “{name}” per period, in {unit}{target}.",
        "chart_target": ", with the target {target} as a dashed line",
        "chart_values": "Values: {values}.",
        "period_axis": "Period",
        "value_legend": "Value",
        "target_legend": "Target {target}",
        "missing_legend": "No data",
        "footprint": "Net balance per domain",
        "footprint_intro": "Energy saved thanks to the platform, footprint of the digital "
                           "system (servers, network, devices) and net balance (savings − "
                           "footprint), in kWh and in CO₂ equivalent.",
        "footprint_caption": "Savings, footprint and net balance per domain, in kWh and kg CO₂e.",
        "domain": "Domain",
        "savings": "Savings",
        "footprint_col": "Footprint",
        "net": "Net balance",
        "total": "Total",
        "footprint_chart_desc": "Bar chart of the savings, footprint and net balance in kWh for "
                                "each domain.",
        "energy_axis": "Energy (kWh)",
        "traceability": "Traceability",
        "trace_caption": "Definition version and inputs hash of each clause (first 12 "
                         "characters).",
        "definition_version": "Definition version",
        "inputs_hash": "Inputs hash",
        "generated": "Generated on {when}",
        "software": "Beffroi {version}",
        "page": "page {n} / {total}",
        "at": "at",
        "sep": ":",
    },
}

DOMAIN_NAMES: dict[str, dict[str, str]] = {
    "fr": {"lighting": "Éclairage public", "mobility": "Mobilité",
           "environment": "Environnement", "water": "Eau", "waste": "Déchets",
           "energy": "Énergie", "security": "Sécurité", "platform": "Plateforme"},
    "en": {"lighting": "Street lighting", "mobility": "Mobility",
           "environment": "Environment", "water": "Water", "waste": "Waste",
           "energy": "Energy", "security": "Security", "platform": "Platform"},
}

_MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}

_COMPARATORS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "="}

NNBSP = "\u202f"  # narrow no-break space: French thousands separator
NBSP = "\u00a0"  # no-break space: between a number and its unit
MINUS = "\u2212"
DASH = "—"


def _lang(locale: str | None) -> str:
    """The language of the labels for a locale (``fr-FR`` → ``fr``); French when unsupported."""
    primary = (locale or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LABELS else "fr"


# --- number formatting ------------------------------------------------------------------------


def _auto_decimals(value: float) -> int:
    magnitude = abs(value)
    if magnitude >= 100:
        return 1
    if magnitude >= 1:
        return 2
    return 3


def format_number(value: float | None, locale: str = "fr", decimals: int | None = None, *,
                  signed: bool = False) -> str:
    """A number for the locale: ``12 345,6`` (fr) or ``12,345.6`` (en); ``—`` when missing.

    With ``decimals`` the number has exactly that many; without, it is rounded to 1 decimal
    from 100 up, 2 from 1, 3 below, and trailing zeros are dropped. ``signed`` prefixes ``+`` to
    positive numbers; negative numbers use the minus sign U+2212.
    """
    if value is None or not math.isfinite(value):
        return DASH
    places = _auto_decimals(value) if decimals is None else decimals
    rounded = round(float(value), places)
    text = f"{abs(rounded):,.{places}f}"
    if decimals is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    if _lang(locale) == "fr":
        text = text.replace(",", NNBSP).replace(".", ",")
    if rounded < 0:
        return MINUS + text
    if signed and rounded > 0:
        return "+" + text
    return text


def format_quantity(value: float | None, unit: str, locale: str = "fr",
                    decimals: int | None = None, *, signed: bool = False) -> str:
    """A number followed by its unit after a no-break space (``98,5 %``); ``—`` when missing."""
    text = format_number(value, locale, decimals, signed=signed)
    if text == DASH or not unit:
        return text
    return f"{text}{NBSP}{unit}"


def format_money(value: float | None, locale: str = "fr") -> str:
    """Euros with cents: ``1 234,00 €`` (fr) or ``€1,234.00`` (en); ``—`` when missing."""
    text = format_number(value, locale, 2)
    if text == DASH:
        return text
    if _lang(locale) == "fr":
        return f"{text}{NBSP}€"
    if text.startswith(MINUS):
        return f"{MINUS}€{text[1:]}"
    return f"€{text}"


def _format_target(comparator: str, target: float | None, unit: str, locale: str) -> str:
    if target is None:
        return DASH
    symbol = _COMPARATORS.get(comparator, comparator)
    return f"{symbol}{NBSP}{format_quantity(target, unit, locale)}"


def _format_date(day: date, lang: str) -> str:
    return f"{day.day} {_MONTHS[lang][day.month - 1]} {day.year}"


def _format_datetime(moment: datetime, lang: str) -> str:
    return f"{_format_date(moment.date(), lang)} {LABELS[lang]['at']} {moment:%H:%M}"


def _format_generated(ms: int, time_zone: str, lang: str) -> str:
    try:
        zone = ZoneInfo(time_zone)
        zone_name = time_zone
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
        zone_name = "UTC"
    moment = datetime.fromtimestamp(ms / 1000, zone)
    return f"{_format_datetime(moment, lang)} ({zone_name})"


def _format_window(start_local: str, end_local: str, lang: str) -> str:
    """``du 1 janvier 2026 au 31 décembre 2026`` for [start, end) in local ISO date-times."""
    labels = LABELS[lang]
    try:
        start = datetime.fromisoformat(start_local)
        end = datetime.fromisoformat(end_local)
    except ValueError:
        return labels["from_to_excl"].format(start=start_local, end=end_local)
    midnight = (start.time().replace(tzinfo=None) == datetime.min.time()
                and end.time().replace(tzinfo=None) == datetime.min.time())
    if midnight and end > start:
        last = (end - timedelta(days=1)).date()
        return labels["from_to"].format(start=_format_date(start.date(), lang),
                                        end=_format_date(last, lang))
    return labels["from_to_excl"].format(start=_format_datetime(start, lang),
                                         end=_format_datetime(end, lang))


def _paragraphs(text: str) -> list[list[str]]:
    """Plain text as paragraphs (separated by blank lines) of lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return []
    return [[row.rstrip() for row in block.strip("\n").split("\n")]
            for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


# --- view model (shared by HTML and PDF) ------------------------------------------------------


@dataclass
class _LineView:
    index: int
    anchor: str
    clause: str
    indicator: str
    name: str
    unit: str
    target: str
    achieved: str
    gap: str
    status: str
    status_class: str  # met | not-met | no-data
    penalty: str
    paragraphs: list[list[str]]
    chart_desc: str
    version: str
    version_full: str
    inputs_hash: str
    inputs_hash_full: str
    line: ReportLine
    chart_svg: Markup | None = None


@dataclass
class _FootprintRow:
    domain: str
    cells: list[str]  # savings, footprint, net (kWh) then the same in kgCO2e


@dataclass
class _View:
    lang: str
    html_lang: str
    labels: dict[str, str]
    title: str
    doc_title: str
    territory: str
    contract: str
    parties: str
    period: str
    period_label: str
    summary_caption: str
    lines: list[_LineView]
    total_penalty: str
    generated: str
    software: str
    footprint: list[_FootprintRow] = field(default_factory=list)
    footprint_total: list[str] | None = None
    footprint_chart_svg: Markup | None = None


def _status(line: ReportLine, lang: str) -> tuple[str, str]:
    labels = LABELS[lang]
    if line.met is True:
        return labels["met"], "met"
    if line.met is False:
        return labels["not_met"], "not-met"
    if line.achieved is not None and line.target is None:
        return labels["no_target"], "no-data"
    return labels["no_data"], "no-data"


def _chart_description(line: ReportLine, lang: str) -> str:
    labels = LABELS[lang]
    target = ""
    if line.target is not None:
        target = labels["chart_target"].format(
            target=_format_target(line.comparator, line.target, line.unit, lang))
    desc = labels["chart_desc"].format(name=line.name, unit=line.unit or DASH, target=target)
    values = " ; " if lang == "fr" else "; "
    points = values.join(
        f"{label}{NBSP if lang == 'fr' else ''}: "
        f"{labels['no_data'] if value is None else format_quantity(value, line.unit, lang)}"
        for label, value in line.history)
    return f"{desc} {labels['chart_values'].format(values=points)}"


def _footprint_number(row: dict[str, Any], key: str, lang: str) -> str:
    value = row.get(key)
    return format_number(float(value), lang) if isinstance(value, int | float) else DASH


_FOOTPRINT_KEYS = ("savings_kwh", "footprint_kwh", "net_kwh", "savings_kgco2e",
                   "footprint_kgco2e", "net_kgco2e")


def _build_view(report: ContractReport) -> _View:
    lang = _lang(report.locale)
    labels = LABELS[lang]
    period = report.period_label
    if report.year_index is not None:
        period += f" ({labels['contract_year'].format(n=report.year_index)})"
    period += ", " + _format_window(report.start_local, report.end_local, lang)
    lines: list[_LineView] = []
    for index, line in enumerate(report.lines, 1):
        status, status_class = _status(line, lang)
        lines.append(_LineView(
            index=index, anchor=f"clause-{index}", clause=line.clause, indicator=line.indicator,
            name=line.name, unit=line.unit,
            target=_format_target(line.comparator, line.target, line.unit, lang),
            achieved=format_quantity(line.achieved, line.unit, lang),
            gap=format_quantity(line.gap, line.unit, lang, signed=True),
            status=status, status_class=status_class,
            penalty=format_money(line.penalty_eur, lang),
            paragraphs=_paragraphs(line.explanation),
            chart_desc=_chart_description(line, lang),
            version=line.version[:12], version_full=line.version,
            inputs_hash=line.inputs_hash[:12], inputs_hash_full=line.inputs_hash, line=line))
    footprint = [
        _FootprintRow(domain=_domain_name(str(row.get("domain", DASH)), lang),
                      cells=[_footprint_number(row, key, lang) for key in _FOOTPRINT_KEYS])
        for row in report.footprint]
    footprint_total = None
    has_total = any(str(row.get("domain", "")).lower() in ("total", "all")
                    for row in report.footprint)
    if len(report.footprint) > 1 and not has_total:
        footprint_total = []
        for key in _FOOTPRINT_KEYS:
            values = [row.get(key) for row in report.footprint]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            complete = len(numbers) == len(values)
            footprint_total.append(format_number(sum(numbers), lang) if complete else DASH)
    return _View(
        lang=lang, html_lang=_html_lang(report.locale),
        labels=labels, title=report.title,
        doc_title=f"{labels['doc_title']} — {report.title} — {report.period_label}",
        territory=f"{report.territory} ({report.territory_code})",
        contract=report.contract, parties=" ; ".join(report.parties) if lang == "fr"
        else "; ".join(report.parties),
        period=period, period_label=report.period_label,
        summary_caption=labels["summary_caption"].format(period=report.period_label),
        lines=lines, total_penalty=format_money(report.total_penalty_eur, lang),
        generated=labels["generated"].format(
            when=_format_generated(report.generated_ms, report.time_zone, lang)),
        software=labels["software"].format(version=report.software_version),
        footprint=footprint, footprint_total=footprint_total)


def _html_lang(locale: str) -> str:
    """The ``lang`` attribute: the report's locale when its labels exist, else the fallback."""
    primary = (locale or "").strip().lower().replace("_", "-").split("-")[0]
    return locale.strip() if primary in LABELS else _lang(locale)


def _domain_name(code: str, lang: str) -> str:
    return DOMAIN_NAMES[lang].get(code, code)


# --- charts -----------------------------------------------------------------------------------

_VALUE_COLOUR = "#1f4e79"  # dark blue: 8.6:1 on white
_TARGET_COLOUR = "#a4161a"  # dark red: 7.4:1 on white
_MISSING_COLOUR = "#e6e6e6"
_GRID_COLOUR = "#d0d0d0"
_BAR_COLOURS = ("#2e6b30", "#a4161a", "#1f4e79")  # savings, footprint, net
_BAR_HATCHES = ("", "//", "..")
_CHART_SIZE = (6.4, 2.8)  # inches
_FOOTPRINT_SIZE = (6.4, 3.2)
_PNG_DPI = 110


def _mpl_text(text: str) -> str:
    """Text shown literally by matplotlib (``$`` would start mathtext)."""
    return text.replace("$", r"\$")


def _new_figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    fig = Figure(figsize=size, dpi=100, layout="constrained", facecolor="white")
    FigureCanvasAgg(fig)  # explicit Agg canvas: no pyplot, no global backend switch
    ax = fig.add_subplot()
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def _locale_formatter(lang: str) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: format_number(float(value), lang))


def _history_figure(line: ReportLine, lang: str, current: str | None = None) -> Figure:
    """Values per period (gaps where missing) and the target; ``current`` period in bold."""
    labels = LABELS[lang]
    fig, ax = _new_figure(_CHART_SIZE)
    xs = list(range(len(line.history)))
    ys = [math.nan if value is None else float(value) for _label, value in line.history]
    missing = [x for x, value in zip(xs, line.history, strict=True) if value[1] is None]
    for n, x in enumerate(missing):
        ax.axvspan(x - 0.4, x + 0.4, color=_MISSING_COLOUR, zorder=0,
                   label=labels["missing_legend"] if n == 0 else None)
    if any(not math.isnan(y) for y in ys):
        ax.plot(xs, ys, color=_VALUE_COLOUR, linewidth=2, marker="o", markersize=5,
                label=labels["value_legend"], zorder=3)
    if line.target is not None:
        target = _format_target(line.comparator, line.target, line.unit, lang)
        ax.axhline(line.target, color=_TARGET_COLOUR, linestyle="--", linewidth=1.5,
                   label=_mpl_text(labels["target_legend"].format(target=target)), zorder=2)
    ax.set_xticks(xs, [_mpl_text(label) for label, _value in line.history])
    for tick, (label, _value) in zip(ax.get_xticklabels(), line.history, strict=True):
        if label == current:
            tick.set_fontweight("bold")
    if len(xs) > 6:
        ax.tick_params(axis="x", labelrotation=45)
    ax.set_xlim(-0.6, max(len(xs) - 0.4, 0.6))
    ax.margins(y=0.12)
    ax.set_xlabel(labels["period_axis"], fontsize=8)
    ax.set_ylabel(_mpl_text(line.unit or line.name), fontsize=8)
    ax.yaxis.set_major_formatter(_locale_formatter(lang))
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.6)
    ax.set_axisbelow(True)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, frameon=False)
    return fig


def _footprint_figure(rows: Sequence[dict[str, Any]], lang: str) -> Figure:
    labels = LABELS[lang]
    fig, ax = _new_figure(_FOOTPRINT_SIZE)
    keys = ("savings_kwh", "footprint_kwh", "net_kwh")
    names = (labels["savings"], labels["footprint_col"], labels["net"])
    width = 0.26
    for n, (key, name) in enumerate(zip(keys, names, strict=True)):
        heights = [float(v) if isinstance(v := row.get(key), int | float) else math.nan
                   for row in rows]
        xs = [i + (n - 1) * width for i in range(len(rows))]
        ax.bar(xs, heights, width=width, color=_BAR_COLOURS[n], hatch=_BAR_HATCHES[n],
               edgecolor="white", linewidth=0.5, label=name, zorder=3)
    ax.axhline(0, color="#333333", linewidth=0.8, zorder=4)
    ax.set_xticks(list(range(len(rows))),
                  [_mpl_text(_domain_name(str(row.get("domain", DASH)), lang)) for row in rows])
    if len(rows) > 5:
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_xlabel(labels["domain"], fontsize=8)
    ax.set_ylabel(labels["energy_axis"], fontsize=8)
    ax.yaxis.set_major_formatter(_locale_formatter(lang))
    ax.grid(axis="y", color=_GRID_COLOUR, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7.5, frameon=False)
    return fig


_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'(url\(#|href="#)([^)"]+)')
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")


def _figure_svg(fig: Figure, prefix: str, description: str) -> Markup:
    """The figure as an inline ``<svg>`` with a ``<title>``, ``role="img"`` and scoped ids."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and doctype
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'<style type="text/css">.*?</style>\s*', "", svg, flags=re.S)
    # matplotlib's ids are random (uuid salt) and would clash between charts of one page:
    # number them in order of appearance under a prefix unique to the chart.
    mapping: dict[str, str] = {}
    for old in _SVG_ID.findall(svg):
        mapping.setdefault(old, f"{prefix}-{len(mapping) + 1}")
    svg = _SVG_ID.sub(lambda m: f'id="{mapping[m.group(1)]}"', svg)
    svg = _SVG_REF.sub(lambda m: m.group(1) + mapping.get(m.group(2), m.group(2)), svg)
    title_id = f"{prefix}-title"
    root = _SVG_ROOT.search(svg)
    assert root is not None
    opening = root.group(0)[:-1] + (f' class="chart-svg" role="img" '
                                    f'aria-labelledby="{title_id}">')
    title = f'<title id="{title_id}">{escape(description)}</title>'
    return Markup(svg[:root.start()] + opening + title + svg[root.end():].rstrip())


def _figure_png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_PNG_DPI)
    return buffer.getvalue()


# --- HTML -------------------------------------------------------------------------------------

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True, trim_blocks=True,
    lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def render_html(report: ContractReport) -> str:
    """The report as a standalone HTML5 document (inline CSS and SVG charts, no external link)."""
    view = _build_view(report)
    for line in view.lines:
        if line.line.history:
            line.chart_svg = _figure_svg(_history_figure(line.line, view.lang, view.period_label),
                                         f"chart-{line.index}", line.chart_desc)
    if report.footprint:
        view.footprint_chart_svg = _figure_svg(
            _footprint_figure(report.footprint, view.lang), "chart-footprint",
            view.labels["footprint_chart_desc"])
    return _ENV.get_template("contract_report.html").render(v=view, L=view.labels)


# --- PDF --------------------------------------------------------------------------------------

_FONT = "DejaVu"
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}  # each font costs ~0.2 s
_TEXT = (33, 33, 33)
_MUTED = (90, 90, 90)
_STATUS_COLOURS = {"met": (27, 94, 32), "not-met": (164, 22, 26), "no-data": (80, 80, 80)}
_HEAD_FILL = (226, 232, 240)


@functools.cache
def _font_chars() -> frozenset[int]:
    return frozenset(FT2Font(str(_FONT_DIR / _FONT_FILES[""])).get_charmap())


def _pdf_text(text: str) -> str:
    """Text the PDF fonts can draw: control characters as spaces, missing glyphs as ``?``."""
    chars = _font_chars()
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ord(ch) < 32 or 127 <= ord(ch) < 160:
            out.append(" ")
        elif ord(ch) in chars:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


class _ReportPDF(FPDF):
    def __init__(self, view: _View) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.view = view
        for style, name in _FONT_FILES.items():
            self.add_font(_FONT, style, str(_FONT_DIR / name))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.set_text_color(*_TEXT)

    def header(self) -> None:
        if self.page_no() == 1:
            return
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_MUTED)
        self.cell(0, 5, _pdf_text(f"{self.view.title} — {self.view.period}"), align="L",
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)
        self.set_text_color(*_TEXT)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FONT, "", 7.5)
        self.set_text_color(*_MUTED)
        left = f"{self.view.software} · {self.view.generated}"
        self.cell(0, 5, _pdf_text(left), align="L")
        self.set_x(self.l_margin)
        page = self.view.labels["page"].format(n=self.page_no(), total=self.str_alias_nb_pages)
        self.cell(0, 5, page, align="R")
        self.set_text_color(*_TEXT)

    # helpers

    def heading(self, text: str, size: float, space_after: float = 2, keep: float = 30) -> None:
        if self.will_page_break(keep):
            self.add_page()
        self.set_font(_FONT, "B", size)
        self.multi_cell(0, size * 0.5, _pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(space_after)

    def paragraph(self, text: str, size: float = 9.5, style: str = "",
                  colour: tuple[int, int, int] = _TEXT, space_after: float = 1.5) -> None:
        self.set_font(_FONT, style, size)
        self.set_text_color(*colour)
        self.multi_cell(0, size * 0.5, _pdf_text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*_TEXT)
        self.ln(space_after)

    def chart(self, png: bytes, size: tuple[float, float]) -> None:
        width = self.epw
        height = width * size[1] / size[0]
        if self.will_page_break(height):
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin, w=width, h=height)
        self.ln(1)

    def table_of(self, headings: Sequence[str], rows: Sequence[Sequence[str]],
                 widths: Sequence[float], aligns: Sequence[str],
                 styles: Sequence[Sequence[FontFace | None]] | None = None,
                 bold_last: bool = False) -> None:
        self.set_font(_FONT, "", 8)
        heading_style = FontFace(emphasis="BOLD", fill_color=_HEAD_FILL)
        with self.table(col_widths=tuple(widths), text_align=tuple(aligns),
                        headings_style=heading_style, line_height=4.2, padding=1.2,
                        width=self.epw) as table:
            table.row([_pdf_text(h) for h in headings])
            for r, cells in enumerate(rows):
                last = bold_last and r == len(rows) - 1
                row = table.row(style=FontFace(emphasis="BOLD") if last else None)
                for c, text in enumerate(cells):
                    style = styles[r][c] if styles is not None else None
                    row.cell(_pdf_text(text), style=style)
        self.ln(2)


def render_pdf(report: ContractReport) -> bytes:
    """The report as an A4 portrait PDF (same content as :func:`render_html`)."""
    view = _build_view(report)
    labels = view.labels
    pdf = _ReportPDF(view)
    pdf.set_title(_pdf_text(view.doc_title))
    pdf.set_author("Beffroi")
    pdf.set_creator(_pdf_text(view.software))
    pdf.set_lang(view.html_lang)
    pdf.set_creation_date(datetime.fromtimestamp(report.generated_ms / 1000, ZoneInfo("UTC")))
    pdf.add_page()

    # title block
    pdf.paragraph(labels["kicker"], size=8.5, colour=_MUTED, space_after=1)
    pdf.heading(view.title, 16, space_after=3)
    for key, value in (("territory", view.territory), ("contract", view.contract),
                       ("parties", view.parties), ("period", view.period)):
        pdf.set_font(_FONT, "B", 9.5)
        pdf.cell(28, 5, _pdf_text(labels[key]))
        pdf.set_font(_FONT, "", 9.5)
        pdf.multi_cell(0, 5, _pdf_text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(5)

    # summary table
    pdf.heading(labels["summary"], 13)
    if view.lines:
        pdf.paragraph(view.summary_caption, size=8, colour=_MUTED)
        rows = [[line.clause, line.name, line.target, line.achieved, line.gap, line.status,
                 line.penalty] for line in view.lines]
        styles: list[list[FontFace | None]] = [
            [None, None, None, None, None,
             FontFace(emphasis="BOLD", color=_STATUS_COLOURS[line.status_class]), None]
            for line in view.lines]
        pdf.table_of([labels[k] for k in ("clause", "indicator", "target", "achieved", "gap",
                                           "status", "penalty")],
                     rows, widths=(16, 37, 26, 26, 26, 23, 26),
                     aligns=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "RIGHT"),
                     styles=styles)
    else:
        pdf.paragraph(labels["no_clauses"])
    pdf.set_font(_FONT, "B", 11)
    sep = labels["sep"] + " "
    pdf.multi_cell(0, 6, _pdf_text(f"{labels['total_penalty']}{sep}{view.total_penalty}"),
                   align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    # clauses
    if view.lines:
        pdf.heading(labels["details"], 13, keep=60)
    for line in view.lines:
        pdf.heading(f"{line.clause} — {line.name}", 11, space_after=1, keep=50)
        figures = " · ".join((f"{labels['target']}{sep}{line.target}",
                              f"{labels['achieved']}{sep}{line.achieved}",
                              f"{labels['gap']}{sep}{line.gap}", line.status,
                              f"{labels['penalty']}{sep}{line.penalty}"))
        pdf.paragraph(figures, size=9, style="B",
                      colour=_STATUS_COLOURS[line.status_class], space_after=2)
        for block in line.paragraphs:
            pdf.paragraph("\n".join(block), size=9.5, space_after=2)
        if line.line.history:
            chart = _history_figure(line.line, view.lang, view.period_label)
            pdf.chart(_figure_png(chart), _CHART_SIZE)
            pdf.paragraph(line.chart_desc, size=7.5, colour=_MUTED)
        else:
            pdf.paragraph(labels["no_history"], size=8.5, colour=_MUTED)
        pdf.ln(3)

    # footprint
    if report.footprint:
        pdf.heading(labels["footprint"], 13, keep=60)
        pdf.paragraph(labels["footprint_intro"], size=9)
        headings = [labels["domain"]] + [
            f"{labels[k]} ({u})" for u in ("kWh", "kg CO₂e")
            for k in ("savings", "footprint_col", "net")]
        rows = [[row.domain, *row.cells] for row in view.footprint]
        if view.footprint_total is not None:
            rows.append([labels["total"], *view.footprint_total])
        pdf.table_of(headings, rows, widths=(34, 26, 26, 26, 26, 26, 26),
                     aligns=("LEFT",) + ("RIGHT",) * 6,
                     bold_last=view.footprint_total is not None)
        pdf.chart(_figure_png(_footprint_figure(report.footprint, view.lang)), _FOOTPRINT_SIZE)
        pdf.paragraph(labels["footprint_chart_desc"], size=7.5, colour=_MUTED)
        pdf.ln(3)

    # traceability
    pdf.heading(labels["traceability"], 13, keep=40)
    pdf.paragraph(f"{view.generated} · {view.software}", size=9)
    if view.lines:
        pdf.paragraph(labels["trace_caption"], size=8, colour=_MUTED)
        pdf.table_of([labels[k] for k in ("clause", "indicator", "definition_version",
                                           "inputs_hash")],
                     [[line.clause, line.indicator, line.version or DASH,
                       line.inputs_hash or DASH] for line in view.lines],
                     widths=(25, 65, 45, 45), aligns=("LEFT", "LEFT", "LEFT", "LEFT"))
    return bytes(pdf.output())
