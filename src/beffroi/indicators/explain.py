"""Plain-words explanation of a computed value, in French or English, from its lineage alone
(so a stored value can be explained years later, with the definition version it names)."""

from __future__ import annotations

from typing import Any

from beffroi.indicators.models import Indicator, Value

_T = {
    "fr": {
        "value": "{name} ({period} {label}) = {value}.",
        "nodata": "{name} ({period} {label}) : pas de donnée dans la période.",
        "window": "Période : du {start} au {end} ({tz}), bornes locales ; fin exclue.",
        "provisional": "Valeur provisoire : la période n'est pas terminée ou ses données ne "
                       "sont pas encore toutes agrégées.",
        "target": "Objectif {cmp} {target} : {met}.",
        "met": "atteint", "missed": "non atteint", "unknown": "non évaluable",
        "definition": "Définition « {code} », version {version} (empreinte SHA-256 du texte "
                      "de la définition) ; calcul « {aggregate} » ; logiciel Beffroi {sw}.",
        "inputs_hash": "Empreinte des données d'entrée : {hash} (un nouveau calcul sur les "
                       "mêmes données doit la retrouver).",
        "source": "Source de la formule : {source}",
        "periods": {"day": "jour", "week": "semaine", "month": "mois", "year": "année",
                    "contract_year": "année de contrat"},
    },
    "en": {
        "value": "{name} ({period} {label}) = {value}.",
        "nodata": "{name} ({period} {label}): no data in the period.",
        "window": "Period: from {start} to {end} ({tz}), local bounds; end excluded.",
        "provisional": "Provisional value: the period is not over or its data are not all "
                       "rolled up yet.",
        "target": "Target {cmp} {target}: {met}.",
        "met": "met", "missed": "not met", "unknown": "cannot be assessed",
        "definition": "Definition '{code}', version {version} (SHA-256 of the definition's "
                      "text); aggregation '{aggregate}'; Beffroi software {sw}.",
        "inputs_hash": "Fingerprint of the input data: {hash} (recomputing on the same data "
                       "must find it again).",
        "source": "Source of the formula: {source}",
        "periods": {"day": "day", "week": "week", "month": "month", "year": "year",
                    "contract_year": "contract year"},
    },
}


def number(v: float | None, locale: str, digits: int = 2) -> str:
    if v is None:
        return "—"
    if float(v).is_integer() and abs(v) < 1e15:
        text = f"{int(v):,}"
    else:
        text = f"{v:,.{digits}f}".rstrip("0").rstrip(".")
    if locale == "fr":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def _how(ind: Indicator | None, value: Value, locale: str) -> list[str]:
    """The aggregation-specific sentences."""
    lin = value.lineage
    i, f = lin.inputs, lin.figures
    fr = locale == "fr"

    def n(v: float | None, d: int = 2) -> str:
        return number(v, locale, d)

    agg = lin.aggregate
    unit = value.unit
    out: list[str] = []
    what = ""
    if "metric" in i:
        types = ", ".join(i.get("types") or i.get("domains") or [])
        what = (f"« {i['metric']} » de {n(i.get('series_selected'))} séries ({types})" if fr
                else f"'{i['metric']}' of {n(i.get('series_selected'))} series ({types})")
    if agg == "sum":
        out.append(
            f"Somme de {n(i['readings'])} relevés de {what}, lue dans les agrégats horaires et "
            f"journaliers : {n(f['sum_of_values'])}, × {n(f['scale'], 6)} = "
            f"{n(value.value)} {unit}." if fr else
            f"Sum of {n(i['readings'])} readings of {what}, read from the hour and day "
            f"rollups: {n(f['sum_of_values'])}, × {n(f['scale'], 6)} = {n(value.value)} {unit}.")
        if f.get("largest"):
            top = "; ".join(f"{x['asset']} {n(x['value'])}" for x in f["largest"][:3])
            out.append(("Plus fortes contributions : " if fr else "Largest contributions: ")
                       + top + ".")
    elif agg == "mean":
        per = f.get("per_series")
        if per:
            out.append(
                f"Moyenne de chaque série ({what}, {n(i['readings'])} relevés), puis "
                f"« {per} » des moyennes des séries." if fr else
                f"Mean of each series ({what}, {n(i['readings'])} readings), then the {per} "
                f"of the series' means.")
        else:
            out.append(
                f"Moyenne des {n(i['readings'])} relevés de {what} : somme "
                f"{n(f['sum_of_values'])} / {n(f['readings'])} relevés." if fr else
                f"Mean of the {n(i['readings'])} readings of {what}: sum "
                f"{n(f['sum_of_values'])} / {n(f['readings'])} readings.")
    elif agg == "ratio_of_sums":
        num, den = i["numerator"], i["denominator"]
        out.append(
            f"Rapport de sommes : Σ « {num['metric']} » ({n(num['readings'])} relevés de "
            f"{n(num['series_selected'])} séries) = {n(f['numerator'])} / Σ "
            f"« {den['metric']} » ({n(den['readings'])} relevés) = {n(f['denominator'])}, × "
            f"{n(f['scale'], 6)}." if fr else
            f"Ratio of sums: Σ '{num['metric']}' ({n(num['readings'])} readings of "
            f"{n(num['series_selected'])} series) = {n(f['numerator'])} / Σ '{den['metric']}' "
            f"({n(den['readings'])} readings) = {n(f['denominator'])}, × {n(f['scale'], 6)}.")
    elif agg == "share_of_time_in_state":
        states = ", ".join(i["states"])
        out.append(
            f"Temps passé dans l'état {states} : {n(f['hours_in_states'])} h sur "
            f"{n(f['hours_with_known_state'])} h d'état connu ({what} ; "
            f"{n(f['hours_unknown'])} h sans état connu, non comptées). Résolution : l'heure "
            f"(seul le dernier relevé de chaque heure est vu)." if fr else
            f"Time in state {states}: {n(f['hours_in_states'])} h of "
            f"{n(f['hours_with_known_state'])} h of known state ({what}; "
            f"{n(f['hours_unknown'])} h without a known state, not counted). Resolution: one "
            f"hour (only the last reading of each hour is seen).")
    elif agg == "count_buckets_above":
        bucket = {"hour": "heures" if fr else "hours", "day": "jours" if fr else "days"}[
            i["bucket"]]
        out.append(
            f"Nombre de {bucket} où la statistique « {f['statistic']} » de {what} est "
            f"{f['op']} {n(f['limit'])} (réduction « {f['reduce']} » entre séries) ; "
            f"{n(i['buckets_with_data'])} {bucket} avec données." if fr else
            f"Number of {bucket} whose '{f['statistic']}' of {what} is {f['op']} "
            f"{n(f['limit'])} ('{f['reduce']}' across series); {n(i['buckets_with_data'])} "
            f"{bucket} with data.")
        if f.get("first_buckets"):
            out.append(("Premières occurrences : " if fr else "First occurrences: ")
                       + ", ".join(f["first_buckets"][:5]) + ".")
    elif agg == "share_of_buckets_within":
        lo, hi = f.get("low"), f.get("high")
        bounds = f"[{n(lo) if lo is not None else '−∞'} ; {n(hi) if hi is not None else '+∞'}]"
        out.append(
            f"{n(f['hours_within'])} heures sur {n(i['hours_with_data'])} avec tous leurs "
            f"relevés dans {bounds} ({what})." if fr else
            f"{n(f['hours_within'])} hours of {n(i['hours_with_data'])} with all their "
            f"readings within {bounds} ({what}).")
    elif agg == "share_of_buckets_with_data":
        out.append(
            f"{n(f['series_hours_with_data'])} heures-séries avec au moins un relevé sur "
            f"{n(f['series_hours_expected'])} attendues ({what}, {n(i['hours'])} h)." if fr else
            f"{n(f['series_hours_with_data'])} series-hours with at least one reading of "
            f"{n(f['series_hours_expected'])} expected ({what}, {n(i['hours'])} h).")
    elif agg == "sum_of_drops":
        out.append(
            f"{n(f['drops'])} baisses d'au moins {n(f['min_drop'])} détectées ({what}, "
            f"{n(i['readings'])} relevés)." if fr else
            f"{n(f['drops'])} drops of at least {n(f['min_drop'])} found ({what}, "
            f"{n(i['readings'])} readings).")
        if f.get("result") == "avoided":
            out.append(
                f"Collectes prévues par un calendrier fixe : {n(f['containers'])} conteneurs × "
                f"{n(f['scheduled_per_week'])} par semaine × {n(f['weeks'])} semaines = "
                f"{n(f['scheduled_collections'])} ; évitées = prévues − réalisées." if fr else
                f"Collections a fixed schedule would make: {n(f['containers'])} containers × "
                f"{n(f['scheduled_per_week'])} a week × {n(f['weeks'])} weeks = "
                f"{n(f['scheduled_collections'])}; avoided = scheduled − made.")
    elif agg == "baseline_lighting":
        if "reference_kwh_per_year" in i:
            out.append(
                f"Année de référence déclarée : {n(i['reference_kwh_per_year'])} kWh/an × "
                f"{n(f['days'])} jours / 365,25." if fr else
                f"Declared reference year: {n(i['reference_kwh_per_year'])} kWh/year × "
                f"{n(f['days'])} days / 365.25.")
        else:
            out.append(
                f"Puissance nominale de {n(i['lamps'])} points lumineux (inventaire) : "
                f"{n(f['nominal_power_w'])} W × (1 + pertes {n(f['losses'])}) × "
                f"{n(f['dusk_to_dawn_hours'])} h du crépuscule à l'aube (soleil à "
                f"{n(i['sun_elevation_deg'])}°, jusqu'au {i['covered_until']}) / 1 000." if fr
                else
                f"Nominal power of {n(i['lamps'])} lamps (inventory): "
                f"{n(f['nominal_power_w'])} W × (1 + losses {n(f['losses'])}) × "
                f"{n(f['dusk_to_dawn_hours'])} h from dusk to dawn (sun at "
                f"{n(i['sun_elevation_deg'])}°, until {i['covered_until']}) / 1,000.")
            if i["lamps_without_power"]:
                how = i["missing_power"]
                out.append(
                    f"{n(i['lamps_without_power'])} points sans puissance connue : " + (
                        "non comptés." if how == "ignore" else
                        f"comptés à {n(f['imputed_power_w_per_lamp'])} W chacun ("
                        + ("moyenne des puissances connues)." if how == "mean_of_known"
                           else "valeur déclarée).")) if fr else
                    f"{n(i['lamps_without_power'])} lamps without a known power: " + (
                        "not counted." if how == "ignore" else
                        f"counted at {n(f['imputed_power_w_per_lamp'])} W each ("
                        + ("mean of the known powers)." if how == "mean_of_known"
                           else "declared value).")))
    elif agg == "count":
        cats = ", ".join(f"{k} {v}" for k, v in f.get("by_category", {}).items())
        out.append(f"Incidents signalés dans la période : {n(i['incidents'])} ({cats})."
                    if fr else f"Incidents reported in the period: {n(i['incidents'])} "
                               f"({cats}).")
    elif agg == "percentile_of_durations":
        out.append(
            f"Centile {n(f['p'])} des délais de « {f['from']} » à « {f['to']} » de "
            f"{n(i['incidents'])} incidents arrivés à « {f['to']} » dans la période, en "
            f"{f['unit']} (interpolation linéaire entre rangs)." if fr else
            f"Percentile {n(f['p'])} of the delays from '{f['from']}' to '{f['to']}' of "
            f"{n(i['incidents'])} incidents that reached '{f['to']}' in the period, in "
            f"{f['unit']} (linear interpolation between ranks).")
    elif agg == "share_within":
        out.append(
            f"Dans le délai ({f['limit']}) de « {f['from']} » à « {f['to']} » : "
            f"{n(f['within'])} ; en retard : {n(f['late'])} ; encore sans « {f['to']} » et "
            f"déjà en retard : {n(f['overdue_without_step'])} ; sans délai défini (exclus) : "
            f"{n(f['without_limit'])}." if fr else
            f"Within the limit ({f['limit']}) from '{f['from']}' to '{f['to']}': "
            f"{n(f['within'])}; late: {n(f['late'])}; still short of '{f['to']}' and already "
            f"late: {n(f['overdue_without_step'])}; without a limit (excluded): "
            f"{n(f['without_limit'])}.")
    elif agg == "platform_availability":
        out.append(
            f"{n(i['minutes_with_heartbeat'])} minutes avec un signal de vie de la plateforme "
            f"sur {n(i['minutes'])}." if fr else
            f"{n(i['minutes_with_heartbeat'])} minutes with a heartbeat of the platform out of "
            f"{n(i['minutes'])}.")
    elif agg == "footprint":
        for line in f.get("lines", [])[:12]:
            out.append(f"{line['domain']} / {line['component']} : {n(line['kwh'], 3)} kWh, "
                       f"{n(line['kgco2e'], 3)} kgCO2e" if fr else
                       f"{line['domain']} / {line['component']}: {n(line['kwh'], 3)} kWh, "
                       f"{n(line['kgco2e'], 3)} kgCO2e")
    elif agg in ("difference", "ratio"):
        a, b = i["indicators"]
        op = "−" if agg == "difference" else "/"
        out.append(
            f"« {a['indicator']} » ({n(a['value'])} {a['unit']}) {op} « {b['indicator']} » "
            f"({n(b['value'])} {b['unit']}), × {n(f['scale'], 6)}." if fr else
            f"'{a['indicator']}' ({n(a['value'])} {a['unit']}) {op} '{b['indicator']}' "
            f"({n(b['value'])} {b['unit']}), × {n(f['scale'], 6)}.")
    return out


def explain(value: Value, ind: Indicator | None, locale: str = "fr") -> str:
    """The explanation, one sentence per line."""
    t = _T.get(locale, _T["fr"])
    loc = locale if locale in _T else "fr"
    lin = value.lineage
    name = ind.label(loc) if ind else value.code
    period = t["periods"][value.window.period]  # type: ignore[index]
    lines: list[str] = []
    if value.value is None:
        lines.append(str(t["nodata"]).format(name=name, period=period, label=value.window.label))
    else:
        lines.append(str(t["value"]).format(
            name=name, period=period, label=value.window.label,
            value=f"{number(value.value, loc)} {value.unit}"))
    w = lin.window
    lines.append(str(t["window"]).format(start=w["start_local"], end=w["end_local"],
                                         tz=w["time_zone"]))
    if w.get("provisional"):
        lines.append(str(t["provisional"]))
    lines.extend(_how(ind, value, loc))
    if value.target is not None:
        met = t["unknown"] if value.met is None else (t["met"] if value.met else t["missed"])
        lines.append(str(t["target"]).format(cmp=value.comparator,
                                             target=f"{number(value.target, loc)} {value.unit}",
                                             met=met))
    lines.append(str(t["definition"]).format(code=value.code, version=lin.version[:12],
                                             aggregate=lin.aggregate, sw=lin.software_version))
    lines.append(str(t["inputs_hash"]).format(hash=lin.inputs_hash[:16]))
    if ind is not None and ind.source:
        lines.append(str(t["source"]).format(source=ind.source))
    return "\n".join(lines)


def explain_dict(value: Value, ind: Indicator | None, locale: str) -> dict[str, Any]:
    return {"value": value.to_dict(), "text": explain(value, ind, locale),
            "lineage": value.lineage.to_dict(),
            "definition": ind.definition if ind else None}
