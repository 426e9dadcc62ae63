"""Messages of the UI in French (the default) and English, and how a request's language is chosen.

Language resolution, first match wins:

1. ``?lang=fr`` or ``?lang=en`` in the URL (the choice is then kept in the ``beffroi_lang``
   cookie for a year);
2. the ``beffroi_lang`` cookie;
3. the browser's ``Accept-Language`` header (the first supported language by quality);
4. French.

Dates and numbers are formatted in the territory's locale and time zone, whatever the language.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"
LANG_COOKIE = "beffroi_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "app.name": {"fr": "Beffroi", "en": "Beffroi"},
    "app.tagline": {"fr": "Hyperviseur urbain", "en": "Urban hypervision"},
    "nav.skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "nav.main": {"fr": "Navigation principale", "en": "Main navigation"},
    "nav.map": {"fr": "Carte", "en": "Map"},
    "nav.alarms": {"fr": "Alarmes", "en": "Alarms"},
    "nav.incidents": {"fr": "Incidents", "en": "Incidents"},
    "nav.indicators": {"fr": "Indicateurs", "en": "Indicators"},
    "nav.territory": {"fr": "Territoire", "en": "Territory"},
    "kpi.title": {"fr": "Indicateurs", "en": "Indicators"},
    "kpi.intro": {"fr": "Chaque valeur est calculée à partir d'une définition publiée et "
                           "versionnée ; son explication donne les données et les calculs "
                           "intermédiaires.",
                  "en": "Each value is computed from a published, versioned definition; its "
                        "explanation gives the data and the intermediate figures."},
    "kpi.indicator": {"fr": "Indicateur", "en": "Indicator"},
    "kpi.period": {"fr": "Période", "en": "Period"},
    "kpi.value": {"fr": "Valeur", "en": "Value"},
    "kpi.target": {"fr": "Objectif", "en": "Target"},
    "kpi.status": {"fr": "Statut", "en": "Status"},
    "kpi.trend": {"fr": "Évolution", "en": "Trend"},
    "kpi.explain": {"fr": "Explication", "en": "Explanation"},
    "kpi.met": {"fr": "atteint", "en": "met"},
    "kpi.missed": {"fr": "non atteint", "en": "not met"},
    "kpi.no_target": {"fr": "sans objectif", "en": "no target"},
    "kpi.no_value": {"fr": "pas encore calculé", "en": "not computed yet"},
    "kpi.provisional": {"fr": "provisoire", "en": "provisional"},
    "kpi.trend_label": {"fr": "Évolution sur {n} périodes, de {a} à {b}",
                        "en": "Trend over {n} periods, from {a} to {b}"},
    "kpi.contracts": {"fr": "Contrats de performance", "en": "Performance contracts"},
    "kpi.report": {"fr": "Rapport de l'année {y}", "en": "Year {y} report"},
    "kpi.no_contract": {"fr": "Aucun contrat défini.", "en": "No contract defined."},
    "kpi.none": {"fr": "Aucun indicateur actif : « beffroi kpi defaults » installe ceux "
                       "fournis.",
                 "en": "No active indicator: 'beffroi kpi defaults' installs the built-in "
                       "ones."},
    "kpi.lineage": {"fr": "Lignage complet (JSON)", "en": "Full lineage (JSON)"},
    "kpi.definition": {"fr": "Définition (version {v})", "en": "Definition (version {v})"},
    "kpi.back": {"fr": "Tous les indicateurs", "en": "All indicators"},
    "nav.switch": {"fr": "Changer", "en": "Switch"},
    "nav.language": {"fr": "Langue", "en": "Language"},
    "nav.logout": {"fr": "Se déconnecter", "en": "Log out"},
    "nav.user": {"fr": "Connecté·e en tant que", "en": "Signed in as"},
    "login.title": {"fr": "Connexion", "en": "Log in"},
    "login.username": {"fr": "Identifiant", "en": "Username"},
    "login.password": {"fr": "Mot de passe", "en": "Password"},
    "login.submit": {"fr": "Se connecter", "en": "Log in"},
    "login.failed": {"fr": "Identifiant ou mot de passe incorrect.",
                     "en": "Wrong username or password."},
    "login.no_territory": {"fr": "Aucun territoire ne vous est attribué.",
                           "en": "You hold no role in any territory."},
    "role.administrator": {"fr": "administrateur", "en": "administrator"},
    "role.supervisor": {"fr": "superviseur", "en": "supervisor"},
    "role.operator": {"fr": "opérateur", "en": "operator"},
    "role.field_agent": {"fr": "agent de terrain", "en": "field agent"},
    "role.viewer": {"fr": "lecteur", "en": "viewer"},
    "role.device": {"fr": "équipement", "en": "device"},
    "state.ok": {"fr": "Normal", "en": "OK"},
    "state.alarm": {"fr": "En alarme", "en": "Alarm"},
    "state.fault": {"fr": "En défaut", "en": "Fault"},
    "state.silent": {"fr": "Muet", "en": "Silent"},
    "state.off": {"fr": "Éteint / fermé", "en": "Off"},
    "map.title": {"fr": "Carte du territoire", "en": "Territory map"},
    "map.region": {"fr": "Carte des équipements", "en": "Map of the assets"},
    "map.filters": {"fr": "Filtres", "en": "Filters"},
    "map.domain": {"fr": "Domaine", "en": "Domain"},
    "map.type": {"fr": "Type d'équipement", "en": "Asset type"},
    "map.post": {"fr": "Poste de contrôle", "en": "Control post"},
    "map.area": {"fr": "Secteur", "en": "Area"},
    "map.state": {"fr": "État", "en": "State"},
    "map.all": {"fr": "Tous", "en": "All"},
    "map.legend": {"fr": "Légende et comptes dans la vue", "en": "Legend and counts in view"},
    "map.in_view": {"fr": "équipements dans la vue", "en": "assets in view"},
    "map.list": {"fr": "Équipements dans la vue", "en": "Assets in view"},
    "map.zoom_in": {"fr": "Zoomez pour lister les équipements.",
                    "en": "Zoom in to list the assets."},
    "map.loading": {"fr": "Chargement…", "en": "Loading…"},
    "map.cluster": {"fr": "Groupe de {n} équipements", "en": "Group of {n} assets"},
    "alarms.title": {"fr": "Alarmes", "en": "Alarms"},
    "alarms.open": {"fr": "Ouvertes", "en": "Open"},
    "alarms.raised": {"fr": "Levées", "en": "Raised"},
    "alarms.acknowledged": {"fr": "Acquittées", "en": "Acknowledged"},
    "alarms.cleared": {"fr": "Terminées", "en": "Cleared"},
    "alarms.severity": {"fr": "Gravité", "en": "Severity"},
    "alarms.rule": {"fr": "Règle", "en": "Rule"},
    "alarms.asset": {"fr": "Équipement", "en": "Asset"},
    "alarms.raised_at": {"fr": "Levée", "en": "Raised"},
    "alarms.message": {"fr": "Message", "en": "Message"},
    "alarms.actions": {"fr": "Actions", "en": "Actions"},
    "alarms.ack": {"fr": "Acquitter", "en": "Acknowledge"},
    "alarms.clear": {"fr": "Terminer", "en": "Clear"},
    "alarms.none": {"fr": "Aucune alarme.", "en": "No alarm."},
    "alarms.acked": {"fr": "Alarme {id} acquittée.", "en": "Alarm {id} acknowledged."},
    "alarms.cleared_msg": {"fr": "Alarme {id} terminée.", "en": "Alarm {id} cleared."},
    "severity.critical": {"fr": "critique", "en": "critical"},
    "severity.major": {"fr": "majeure", "en": "major"},
    "severity.minor": {"fr": "mineure", "en": "minor"},
    "severity.warning": {"fr": "avertissement", "en": "warning"},
    "incidents.title": {"fr": "Main courante des incidents", "en": "Incident board"},
    "incidents.new": {"fr": "Nouvel incident", "en": "New incident"},
    "incidents.category": {"fr": "Catégorie", "en": "Category"},
    "incidents.title_field": {"fr": "Intitulé", "en": "Title"},
    "incidents.description": {"fr": "Description", "en": "Description"},
    "incidents.create": {"fr": "Créer", "en": "Create"},
    "incidents.none": {"fr": "Aucun incident.", "en": "No incident."},
    "incidents.open_detail": {"fr": "Détails de l'incident {id}",
                              "en": "Details of incident {id}"},
    "incidents.next": {"fr": "Étape suivante", "en": "Next step"},
    "incidents.to": {"fr": "Passer à « {step} »", "en": "Move to “{step}”"},
    "incidents.assign": {"fr": "Affecter", "en": "Assign"},
    "incidents.assignee": {"fr": "Affecté à", "en": "Assigned to"},
    "incidents.assignee_kind": {"fr": "Type", "en": "Kind"},
    "incidents.team": {"fr": "Équipe", "en": "Team"},
    "incidents.contractor": {"fr": "Prestataire", "en": "Contractor"},
    "incidents.name": {"fr": "Nom", "en": "Name"},
    "incidents.comment": {"fr": "Commentaire", "en": "Comment"},
    "incidents.add_comment": {"fr": "Commenter", "en": "Add comment"},
    "incidents.comments": {"fr": "Commentaires", "en": "Comments"},
    "incidents.steps": {"fr": "Étapes", "en": "Steps"},
    "incidents.sla": {"fr": "Délais (SLA)", "en": "Deadlines (SLA)"},
    "incidents.due_in": {"fr": "échéance dans {d}", "en": "due in {d}"},
    "incidents.overdue": {"fr": "en retard de {d}", "en": "overdue by {d}"},
    "incidents.close": {"fr": "Fermer", "en": "Close"},
    "incidents.moved": {"fr": "Incident {id} : {step}.", "en": "Incident {id}: {step}."},
    "step.reported": {"fr": "Signalé", "en": "Reported"},
    "step.acknowledged": {"fr": "Pris en compte", "en": "Acknowledged"},
    "step.dispatched": {"fr": "Intervention envoyée", "en": "Dispatched"},
    "step.on_site": {"fr": "Sur place", "en": "On site"},
    "step.resolved": {"fr": "Résolu", "en": "Resolved"},
    "step.closed": {"fr": "Clos", "en": "Closed"},
    "asset.title": {"fr": "Équipement", "en": "Asset"},
    "asset.properties": {"fr": "Propriétés", "en": "Properties"},
    "asset.live": {"fr": "Valeurs en direct", "en": "Live values"},
    "asset.metric": {"fr": "Mesure", "en": "Metric"},
    "asset.value": {"fr": "Valeur", "en": "Value"},
    "asset.at": {"fr": "Horodatage", "en": "Time"},
    "asset.history": {"fr": "Historique", "en": "History"},
    "asset.hour": {"fr": "48 heures (par heure)", "en": "48 hours (hourly)"},
    "asset.day": {"fr": "30 jours (par jour)", "en": "30 days (daily)"},
    "asset.no_data": {"fr": "Aucune donnée.", "en": "No data."},
    "asset.alarms": {"fr": "Alarmes de l'équipement", "en": "Alarms of this asset"},
    "asset.incidents": {"fr": "Incidents de l'équipement", "en": "Incidents of this asset"},
    "asset.commands": {"fr": "Commandes", "en": "Commands"},
    "asset.no_commands": {"fr": "Aucune commande disponible pour votre rôle.",
                          "en": "No command available to your role."},
    "asset.send": {"fr": "Envoyer", "en": "Send"},
    "asset.sent": {"fr": "Commande « {c} » : {s}.", "en": "Command “{c}”: {s}."},
    "asset.recent_commands": {"fr": "Commandes récentes", "en": "Recent commands"},
    "asset.field": {"fr": "Champ", "en": "Field"},
    "asset.type": {"fr": "Type", "en": "Type"},
    "asset.domain": {"fr": "Domaine", "en": "Domain"},
    "asset.post": {"fr": "Poste", "en": "Post"},
    "asset.parent": {"fr": "Parent", "en": "Parent"},
    "asset.operator": {"fr": "Exploitant", "en": "Operator"},
    "asset.position": {"fr": "Position", "en": "Position"},
    "common.state": {"fr": "État", "en": "State"},
    "common.post": {"fr": "Poste", "en": "Post"},
    "common.all_posts": {"fr": "Tous les postes", "en": "All posts"},
    "common.error": {"fr": "Erreur : {m}", "en": "Error: {m}"},
    "common.live": {"fr": "Direct", "en": "Live"},
    "common.offline": {"fr": "Hors ligne — reconnexion…", "en": "Offline — reconnecting…"},
    "common.refresh": {"fr": "Actualiser", "en": "Refresh"},
    "common.forbidden": {"fr": "Vous n'avez pas de rôle dans ce territoire.",
                         "en": "You hold no role in this territory."},
    "common.not_found": {"fr": "Introuvable.", "en": "Not found."},
    "common.back_map": {"fr": "Retour à la carte", "en": "Back to the map"},
}


def t(key: str, lang: str, **values: object) -> str:
    entry = MESSAGES.get(key)
    text = key if entry is None else entry.get(lang) or entry[DEFAULT_LANG]
    return text.format(**values) if values else text


def catalogue(lang: str) -> dict[str, str]:
    """Every message in one language (given to the page's scripts)."""
    return {key: t(key, lang) for key in MESSAGES}


def _accept_language(header: str) -> str | None:
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        quality = 1.0
        for b in bits[1:]:
            if b.strip().startswith("q="):
                try:
                    quality = float(b.strip()[2:])
                except ValueError:
                    quality = 0.0
        primary = tag.split("-")[0]
        if primary in LANGS and quality > 0:
            choices.append((-quality, i, primary))
    return min(choices)[2] if choices else None


def resolve_lang(request: Request) -> tuple[str, bool]:
    """(language, whether it came from ``?lang=`` and should be remembered)."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie, False
    header = request.headers.get("accept-language")
    if header:
        found = _accept_language(header)
        if found:
            return found, False
    return DEFAULT_LANG, False


def format_ms(ms: int | None, timezone: str, lang: str) -> str:
    """A time in the territory's zone, e.g. ``03/12/2026 08:15`` (fr) or ``03 Dec 2026 08:15``."""
    if ms is None:
        return "—"
    local = datetime.fromtimestamp(ms / 1000, ZoneInfo(timezone))
    return local.strftime("%d/%m/%Y %H:%M" if lang == "fr" else "%d %b %Y %H:%M")
