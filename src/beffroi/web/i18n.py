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

from beffroi.texts import LANGS

DEFAULT_LANG = LANGS[0]
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
    "alarms.raised": {"fr": "Non acquittées", "en": "Raised"},
    "alarmstate.raised": {"fr": "Active, non acquittée", "en": "Raised"},
    "alarmstate.acknowledged": {"fr": "Acquittée", "en": "Acknowledged"},
    "alarmstate.cleared": {"fr": "Terminée", "en": "Cleared"},
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
    "asset.year": {"fr": "1 an (par jour)", "en": "1 year (daily)"},
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

# Public pages (no account): real-time information, residents' reports and their follow-up.
MESSAGES.update({
    "public.title": {"fr": "Informations publiques", "en": "Public information"},
    "public.tagline": {"fr": "informations et signalements", "en": "information and reports"},
    "public.nav": {"fr": "Pages publiques", "en": "Public pages"},
    "public.nav.now": {"fr": "En ce moment", "en": "Right now"},
    "public.nav.report": {"fr": "Signaler un problème", "en": "Report a problem"},
    "public.footer": {"fr": "Service public de la collectivité. Aucune donnée personnelle n'est "
                            "publiée sur ces pages.",
                      "en": "A public service of the local authority. No personal data is "
                            "published on these pages."},
    "public.not_found": {"fr": "Page introuvable", "en": "Page not found"},
    "public.not_found_hint": {"fr": "Ce territoire ou ce signalement n'existe pas. Vérifiez "
                                    "l'adresse ou le numéro de suivi.",
                              "en": "This territory or report does not exist. Check the address "
                                    "or the follow-up number."},
    "public.error": {"fr": "Le service est momentanément indisponible",
                     "en": "The service is temporarily unavailable"},
    "public.updated": {"fr": "Mis à jour", "en": "Updated"},
    "public.no_data": {"fr": "pas de donnée", "en": "no data"},
    "public.required": {"fr": "obligatoire", "en": "required"},
    "public.optional": {"fr": "facultatif", "en": "optional"},
    "public.now.title": {"fr": "En ce moment", "en": "Right now"},
    "public.now.generated": {"fr": "Informations du", "en": "Information as of"},
    "public.now.api": {"fr": "Les mêmes données en JSON :", "en": "The same data as JSON:"},
    "public.parking.title": {"fr": "Parkings", "en": "Car parks"},
    "public.parking.caption": {"fr": "Places libres par parking",
                               "en": "Free spaces per car park"},
    "public.parking.name": {"fr": "Parking", "en": "Car park"},
    "public.parking.available": {"fr": "Places libres", "en": "Free spaces"},
    "public.parking.spaces": {"fr": "places libres", "en": "free spaces"},
    "public.parking.occupancy": {"fr": "Occupation", "en": "Occupancy"},
    "public.parking.status": {"fr": "État", "en": "Status"},
    "public.parking.status.open": {"fr": "ouvert", "en": "open"},
    "public.parking.status.full": {"fr": "complet", "en": "full"},
    "public.parking.status.closed": {"fr": "fermé", "en": "closed"},
    "public.parking.status.unknown": {"fr": "inconnu", "en": "unknown"},
    "public.parking.none": {"fr": "Aucun parking suivi.", "en": "No car park monitored."},
    "public.air.title": {"fr": "Qualité de l'air", "en": "Air quality"},
    "public.air.now": {"fr": "En ce moment :", "en": "Now:"},
    "public.air.today": {"fr": "pire niveau aujourd'hui :", "en": "worst level today:"},
    "public.air.caption": {"fr": "Concentrations par station et polluant",
                           "en": "Concentrations per station and pollutant"},
    "public.air.station": {"fr": "Station", "en": "Station"},
    "public.air.pollutant": {"fr": "Polluant", "en": "Pollutant"},
    "public.air.value_now": {"fr": "Maintenant", "en": "Now"},
    "public.air.max_today": {"fr": "Maximum du jour", "en": "Today's maximum"},
    "public.air.scale": {"fr": "Niveaux de l'indice ATMO (identiques à l'indice européen "
                               "EAQI) : bon, moyen, dégradé, mauvais, très mauvais, "
                               "extrêmement mauvais.",
                         "en": "Levels of the European Air Quality Index (the same as the "
                               "French ATMO index): good, fair, moderate, poor, very poor, "
                               "extremely poor."},
    "public.air.none": {"fr": "Aucune station de mesure de l'air.",
                        "en": "No air-quality station."},
    "public.air.pm25": {"fr": "Particules fines PM2,5", "en": "Fine particles PM2.5"},
    "public.air.pm10": {"fr": "Particules PM10", "en": "Particles PM10"},
    "public.air.no2": {"fr": "Dioxyde d'azote (NO₂)", "en": "Nitrogen dioxide (NO₂)"},
    "public.air.o3": {"fr": "Ozone (O₃)", "en": "Ozone (O₃)"},
    "public.air.good": {"fr": "bon", "en": "good"},
    "public.air.fair": {"fr": "moyen", "en": "fair"},
    "public.air.moderate": {"fr": "dégradé", "en": "moderate"},
    "public.air.poor": {"fr": "mauvais", "en": "poor"},
    "public.air.very_poor": {"fr": "très mauvais", "en": "very poor"},
    "public.air.extremely_poor": {"fr": "extrêmement mauvais", "en": "extremely poor"},
    "public.traffic.title": {"fr": "Circulation", "en": "Traffic"},
    "public.traffic.intro": {"fr": "État de la circulation sur les {n} tronçons comptés.",
                             "en": "Traffic state on the {n} counted road sections."},
    "public.traffic.caption": {"fr": "Part des tronçons par état de circulation",
                               "en": "Share of road sections per traffic state"},
    "public.traffic.state": {"fr": "État", "en": "State"},
    "public.traffic.counters": {"fr": "Tronçons", "en": "Sections"},
    "public.traffic.share": {"fr": "Part", "en": "Share"},
    "public.traffic.free": {"fr": "fluide", "en": "free-flowing"},
    "public.traffic.pre-saturated": {"fr": "dense", "en": "heavy"},
    "public.traffic.saturated": {"fr": "saturé", "en": "congested"},
    "public.traffic.blocked": {"fr": "bloqué", "en": "blocked"},
    "public.traffic.unknown": {"fr": "inconnu", "en": "unknown"},
    "public.traffic.none": {"fr": "Aucun compteur de trafic.", "en": "No traffic counter."},
    "public.incidents.title": {"fr": "Travaux et incidents en cours",
                               "en": "Works and incidents in progress"},
    "public.incidents.since": {"fr": "Depuis le", "en": "Since"},
    "public.incidents.handled": {"fr": "pris en charge", "en": "being handled"},
    "public.incidents.reported": {"fr": "signalé", "en": "reported"},
    "public.incidents.none": {"fr": "Aucun incident en cours qui vous concerne.",
                              "en": "No incident in progress affecting the public."},
    "public.map.title": {"fr": "Carte", "en": "Map"},
    "public.map.hint": {"fr": "La carte reprend les informations des tableaux ci-dessus : "
                              "parkings en bleu, stations d'air en vert, incidents en rouge.",
                        "en": "The map shows the information of the tables above: car parks "
                              "in blue, air stations in green, incidents in red."},
    "public.map.label": {"fr": "Carte des parkings, stations d'air et incidents",
                         "en": "Map of car parks, air stations and incidents"},
    "public.report.title": {"fr": "Signaler un problème", "en": "Report a problem"},
    "public.report.intro": {"fr": "Un lampadaire éteint, un feu en panne, une fuite d'eau, un "
                                  "conteneur qui déborde ? Signalez-le ici, sans créer de "
                                  "compte.",
                            "en": "A street light out, a broken traffic light, a water leak, an "
                                  "overflowing bin? Report it here, no account needed."},
    "public.report.emergency": {"fr": "En cas d'urgence ou de danger, appelez le 112.",
                                "en": "In an emergency or danger, call 112."},
    "public.report.category": {"fr": "Type de problème", "en": "Kind of problem"},
    "public.report.choose": {"fr": "— Choisir —", "en": "— Choose —"},
    "public.report.where": {"fr": "Où ?", "en": "Where?"},
    "public.report.where_help": {"fr": "Touchez la carte à l'endroit du problème, utilisez "
                                       "votre position ou écrivez une adresse ou un repère.",
                                 "en": "Tap the map where the problem is, use your location, "
                                       "or type an address or landmark."},
    "public.report.map_label": {"fr": "Carte : touchez l'endroit du problème",
                                "en": "Map: tap where the problem is"},
    "public.report.map_keys": {"fr": "Au clavier : déplacez la carte avec les flèches, puis "
                                     "appuyez sur Entrée pour choisir son centre.",
                               "en": "With the keyboard: move the map with the arrow keys, then "
                                     "press Enter to choose its centre."},
    "public.report.use_location": {"fr": "Utiliser ma position", "en": "Use my location"},
    "public.report.locating": {"fr": "Recherche de votre position…",
                               "en": "Finding your location…"},
    "public.report.locate_failed": {"fr": "Position indisponible : touchez la carte ou écrivez "
                                          "une adresse.",
                                    "en": "Location unavailable: tap the map or type an "
                                          "address."},
    "public.report.chosen": {"fr": "Endroit choisi : latitude {lat}, longitude {lon}",
                             "en": "Place chosen: latitude {lat}, longitude {lon}"},
    "public.report.by_map": {"fr": "sur la carte", "en": "on the map"},
    "public.report.by_device": {"fr": "position de l'appareil", "en": "device location"},
    "public.report.address": {"fr": "Adresse ou repère", "en": "Address or landmark"},
    "public.report.description": {"fr": "Description", "en": "Description"},
    "public.report.description_help": {"fr": "Ce que vous avez constaté (10 à 4 000 "
                                             "caractères). N'y mettez pas de données "
                                             "personnelles.",
                                       "en": "What you saw (10 to 4,000 characters). Do not "
                                             "include personal data."},
    "public.report.email": {"fr": "Votre courriel pour être informé du suivi",
                            "en": "Your email to be told of the follow-up"},
    "public.report.privacy": {"fr": "Votre courriel sert uniquement à vous informer du suivi "
                                    "de ce signalement. Il n'est jamais publié ni transmis. Il "
                                    "est supprimé {days} jours après la clôture du "
                                    "signalement.",
                              "en": "Your email is used only to tell you how this report is "
                                    "followed up. It is never published or passed on. It is "
                                    "deleted {days} days after the report is closed."},
    "public.report.honeypot": {"fr": "Ne pas remplir ce champ", "en": "Leave this field empty"},
    "public.report.send": {"fr": "Envoyer le signalement", "en": "Send the report"},
    "public.report.spam.content": {"fr": "Signalement refusé : la description ressemble à un "
                                         "message indésirable (mot bloqué ou caractère répété "
                                         "de nombreuses fois).",
                                   "en": "Report refused: the description looks like spam (a "
                                         "blocked word or a character repeated many times)."},
    "public.report.err.summary": {"fr": "Le signalement n'a pas été envoyé : corrigez les "
                                        "points suivants.",
                                  "en": "The report was not sent: please correct the "
                                        "following."},
    "public.report.err.category": {"fr": "Choisissez le type de problème.",
                                   "en": "Choose the kind of problem."},
    "public.report.err.location": {"fr": "Indiquez l'endroit : touchez la carte, utilisez "
                                         "votre position ou écrivez une adresse (5 caractères "
                                         "au moins).",
                                   "en": "Give the place: tap the map, use your location or "
                                         "type an address (at least 5 characters)."},
    "public.report.err.outside": {"fr": "L'endroit choisi est hors du territoire : choisissez "
                                        "un point sur la carte du territoire.",
                                  "en": "The place chosen is outside the territory: choose a "
                                        "point on the territory's map."},
    "public.report.err.address_long": {"fr": "L'adresse est trop longue (300 caractères au "
                                             "plus).",
                                       "en": "The address is too long (300 characters at "
                                             "most)."},
    "public.report.err.description_short": {"fr": "Décrivez le problème en 10 caractères au "
                                                  "moins.",
                                            "en": "Describe the problem in at least 10 "
                                                  "characters."},
    "public.report.err.description_long": {"fr": "La description est trop longue (4 000 "
                                                 "caractères au plus).",
                                           "en": "The description is too long (4,000 "
                                                 "characters at most)."},
    "public.report.err.email": {"fr": "Ce courriel n'est pas valide (exemple : "
                                      "nom@exemple.fr) ; vous pouvez aussi le laisser vide.",
                                "en": "This email is not valid (example: name@example.org); "
                                      "you may also leave it empty."},
    "public.report.spam.honeypot": {"fr": "Signalement refusé : un champ caché, réservé à la "
                                          "détection des robots, a été rempli.",
                                    "en": "Report refused: a hidden field meant to detect "
                                          "robots was filled in."},
    "public.report.spam.expired": {"fr": "Ce formulaire a expiré : rechargez la page puis "
                                         "renvoyez votre signalement.",
                                   "en": "This form has expired: reload the page, then send "
                                         "your report again."},
    "public.report.spam.too_fast": {"fr": "Formulaire envoyé trop vite pour avoir été rempli "
                                          "par une personne : relisez-le et envoyez-le à "
                                          "nouveau.",
                                    "en": "The form was sent too fast to have been filled in by "
                                          "a person: check it and send it again."},
    "public.report.spam.links": {"fr": "Signalement refusé : la description contient trop de "
                                       "liens (2 au plus).",
                                 "en": "Report refused: the description contains too many "
                                       "links (2 at most)."},
    "public.report.rate_limited": {"fr": "Trop de signalements envoyés depuis votre connexion "
                                         "({n} par heure au plus) : réessayez dans une heure.",
                                   "en": "Too many reports sent from your connection (at most "
                                         "{n} an hour): try again in an hour."},
    "public.request.title": {"fr": "Signalement n° {id}", "en": "Report no. {id}"},
    "public.request.thanks": {"fr": "Merci, votre signalement a été enregistré.",
                              "en": "Thank you, your report has been registered."},
    "public.request.your_number": {"fr": "Votre numéro de suivi :",
                                   "en": "Your follow-up number:"},
    "public.request.keep": {"fr": "Notez-le ou gardez l'adresse de cette page pour suivre le "
                                  "traitement.",
                            "en": "Write it down or keep this page's address to follow it up."},
    "public.request.status": {"fr": "État", "en": "Status"},
    "public.request.status.open": {"fr": "ouvert", "en": "open"},
    "public.request.status.closed": {"fr": "clos", "en": "closed"},
    "public.request.category": {"fr": "Type de problème", "en": "Kind of problem"},
    "public.request.requested": {"fr": "Signalé le", "en": "Reported on"},
    "public.request.updated": {"fr": "Dernière mise à jour", "en": "Last updated"},
    "public.request.note": {"fr": "Réponse du service", "en": "The service's answer"},
    "public.request.no_note": {"fr": "Pas encore de réponse.", "en": "No answer yet."},
    "public.request.privacy": {"fr": "Cette page ne montre aucune donnée personnelle.",
                               "en": "This page shows no personal data."},
    "public.request.another": {"fr": "Faire un autre signalement",
                               "en": "Make another report"},
})

# Work orders (the incident dialog's section and the work-orders page).
MESSAGES.update({
    "nav.work_orders": {"fr": "Bons de travaux", "en": "Work orders"},
    "wo.title": {"fr": "Bons de travaux", "en": "Work orders"},
    "wo.section": {"fr": "Bons de travaux", "en": "Work orders"},
    "wo.none": {"fr": "Aucun bon de travaux.", "en": "No work order."},
    "wo.loading": {"fr": "Chargement…", "en": "Loading…"},
    "wo.new": {"fr": "Nouveau bon de travaux", "en": "New work order"},
    "wo.title_field": {"fr": "Intitulé du bon", "en": "Work order title"},
    "wo.description": {"fr": "Travaux à effectuer", "en": "Work to do"},
    "wo.assignee_kind": {"fr": "Confié à (type)", "en": "Given to (kind)"},
    "wo.assignee": {"fr": "Équipe ou prestataire", "en": "Team or contractor"},
    "wo.assignee_help": {"fr": "Le nom d'utilisateur d'un agent de terrain lui permet de "
                                "mettre le bon à jour.",
                         "en": "A field agent's user name lets that agent update the work "
                               "order."},
    "wo.create": {"fr": "Créer le bon", "en": "Create work order"},
    "wo.created_msg": {"fr": "Bon de travaux {id} créé.", "en": "Work order {id} created."},
    "wo.closed_incident": {"fr": "L'incident est résolu : plus de nouveau bon.",
                           "en": "The incident is resolved: no new work order."},
    "wo.id": {"fr": "Bon n° {id}", "en": "Work order {id}"},
    "wo.state.open": {"fr": "Émis", "en": "Issued"},
    "wo.state.accepted": {"fr": "Accepté", "en": "Accepted"},
    "wo.state.on_site": {"fr": "Sur place", "en": "On site"},
    "wo.state.done": {"fr": "Terminé", "en": "Done"},
    "wo.state.cancelled": {"fr": "Annulé", "en": "Cancelled"},
    "wo.to": {"fr": "Passer à « {step} »", "en": "Move to “{step}”"},
    "wo.moved": {"fr": "Bon de travaux {id} : {step}.", "en": "Work order {id}: {step}."},
    "wo.note": {"fr": "Note (compte rendu, obligatoire pour terminer)",
                "en": "Note (closure report, required to finish)"},
    "wo.closure_note": {"fr": "Compte rendu", "en": "Closure note"},
    "wo.post": {"fr": "Poste", "en": "Post"},
    "wo.note_required": {"fr": "Dites ce qui a été fait : le compte rendu est obligatoire pour "
                               "terminer le bon.",
                         "en": "Say what was done: a closure note is required to finish the "
                               "work order."},
    "wo.assigned": {"fr": "Confié à", "en": "Given to"},
    "wo.incident": {"fr": "Incident", "en": "Incident"},
    "wo.incident_link": {"fr": "Incident {id}", "en": "Incident {id}"},
    "wo.dates": {"fr": "Dates", "en": "Dates"},
    "wo.at.created": {"fr": "Émis le", "en": "Issued"},
    "wo.at.accepted": {"fr": "Accepté le", "en": "Accepted"},
    "wo.at.on_site": {"fr": "Sur place le", "en": "On site"},
    "wo.at.done": {"fr": "Terminé le", "en": "Done"},
    "wo.at.cancelled": {"fr": "Annulé le", "en": "Cancelled"},
    "wo.by": {"fr": "par {who}", "en": "by {who}"},
    "wo.all_states": {"fr": "Tous les états", "en": "All states"},
    "wo.unfinished": {"fr": "En cours (non terminés)", "en": "Unfinished"},
    "wo.count": {"fr": "{n} bon(s) de travaux", "en": "{n} work order(s)"},
    "wo.field_error": {"fr": "{field} : {reason}", "en": "{field}: {reason}"},
    "wo.intro": {"fr": "Les bons de travaux des incidents, du plus récent au plus ancien. "
                       "Ouvrez l'incident pour faire avancer un bon.",
                 "en": "The incidents' work orders, newest first. Open the incident to move "
                       "a work order on."},
})


# Names of the domains, asset types and commands, and the commands' states (the API speaks
# codes; the screens say them in the page's language).
MESSAGES.update({
    "domain.lighting": {"fr": "Éclairage public", "en": "Street lighting"},
    "domain.mobility": {"fr": "Mobilité", "en": "Mobility"},
    "domain.environment": {"fr": "Environnement", "en": "Environment"},
    "domain.water": {"fr": "Eau", "en": "Water"},
    "domain.waste": {"fr": "Déchets", "en": "Waste"},
    "domain.energy": {"fr": "Énergie", "en": "Energy"},
    "domain.security": {"fr": "Sécurité", "en": "Security"},
    "type.Streetlight": {"fr": "Point lumineux", "en": "Streetlight"},
    "type.Streetlight.about": {"fr": "Un luminaire d'éclairage public.",
                               "en": "A public-lighting lamp (luminaire)."},
    "type.StreetlightControlCabinet": {"fr": "Armoire d'éclairage",
                                       "en": "Lighting control cabinet"},
    "type.StreetlightControlCabinet.about": {
        "fr": "Une armoire de commande qui alimente un groupe de points lumineux.",
        "en": "A lighting control cabinet (armoire) feeding a group of lamps."},
    "type.WasteContainer": {"fr": "Conteneur à déchets", "en": "Waste container"},
    "type.WasteContainer.about": {"fr": "Un conteneur ou une corbeille de rue.",
                                  "en": "A waste container or litter bin."},
    "type.ParkingSpot": {"fr": "Place de stationnement", "en": "Parking spot"},
    "type.ParkingSpot.about": {"fr": "Une place de stationnement sur voirie.",
                               "en": "A single on-street parking spot."},
    "type.OffStreetParking": {"fr": "Parking", "en": "Car park"},
    "type.OffStreetParking.about": {"fr": "Un parc de stationnement.", "en": "A car park."},
    "type.AirQualityObserved": {"fr": "Station de qualité de l'air", "en": "Air-quality station"},
    "type.AirQualityObserved.about": {"fr": "Une station de mesure de la qualité de l'air.",
                                      "en": "An air-quality monitoring station."},
    "type.WeatherObserved": {"fr": "Station météo", "en": "Weather station"},
    "type.WeatherObserved.about": {"fr": "Une station météorologique.",
                                   "en": "A weather station."},
    "type.WaterQualityObserved": {"fr": "Station de qualité de l'eau",
                                  "en": "Water-quality station"},
    "type.WaterQualityObserved.about": {"fr": "Une station de mesure de la qualité de l'eau.",
                                        "en": "A water-quality monitoring station."},
    "type.TrafficFlowObserved": {"fr": "Compteur de trafic", "en": "Traffic counter"},
    "type.TrafficFlowObserved.about": {"fr": "Un compteur routier (un tronçon compté).",
                                       "en": "A traffic counter (a counted road section)."},
    "type.TrafficSignal": {"fr": "Carrefour à feux", "en": "Traffic signal"},
    "type.TrafficSignal.about": {"fr": "Un contrôleur de feux tricolores.",
                                 "en": "A traffic-light controller."},
    "type.EVChargingStation": {"fr": "Borne de recharge", "en": "EV charging station"},
    "type.EVChargingStation.about": {"fr": "Une borne de recharge pour véhicules électriques.",
                                     "en": "An electric-vehicle charging station."},
    "type.Building": {"fr": "Bâtiment public", "en": "Public building"},
    "type.Building.about": {"fr": "Un bâtiment public et ses compteurs d'énergie.",
                            "en": "A public building with energy meters."},
    "type.Camera": {"fr": "Caméra", "en": "Camera"},
    "type.Camera.about": {
        "fr": "Une caméra, supervisée comme équipement seulement (aucune image traitée).",
        "en": "A video camera, supervised as equipment only (no images are processed)."},
    "cmdstate.pending": {"fr": "en attente", "en": "pending"},
    "cmdstate.sent": {"fr": "envoyée", "en": "sent"},
    "cmdstate.acknowledged": {"fr": "appliquée par l'équipement", "en": "applied by the device"},
    "cmdstate.failed": {"fr": "en échec", "en": "failed"},
    "cmdstate.timed_out": {"fr": "sans réponse à temps", "en": "timed out"},
    "cmdstate.cancelled": {"fr": "annulée", "en": "cancelled"},
    "cmd.switch": {"fr": "Allumer / éteindre", "en": "Switch on / off"},
    "cmd.switch.about": {"fr": "Allumer ou éteindre les points lumineux.",
                         "en": "Switch the lamps on or off."},
    "cmd.switch.on": {"fr": "Allumé", "en": "On"},
    "cmd.switch.on.help": {"fr": "Oui allume les points lumineux, non les éteint.",
                           "en": "Yes switches the lamps on, no off."},
    "cmd.dim": {"fr": "Gradation", "en": "Dimming"},
    "cmd.dim.about": {"fr": "Régler le niveau de gradation (pourcentage).",
                      "en": "Set the dimming level (percent)."},
    "cmd.dim.level": {"fr": "Niveau", "en": "Level"},
    "cmd.dim.level.help": {"fr": "Niveau en pourcentage de la pleine puissance, de 0 à 100.",
                           "en": "Dimming level in percent of full power, 0 to 100."},
    "cmd.schedule": {"fr": "Programme journalier", "en": "Daily programme"},
    "cmd.schedule.about": {"fr": "Remplacer le programme journalier de l'armoire (heures "
                                 "locales).",
                           "en": "Replace the cabinet's daily programme (local times)."},
    "cmd.schedule.entries": {"fr": "Programme", "en": "Programme"},
    "cmd.schedule.entries.help": {
        "fr": 'JSON : à partir de chaque heure, le niveau donné, par ex. [{"at": "23:00", '
              '"level": 50}, {"at": "05:00", "level": 100}].',
        "en": 'JSON: from each time on, the given level, e.g. [{"at": "23:00", "level": 50}, '
              '{"at": "05:00", "level": 100}].'},
    "cmd.set_plan": {"fr": "Plan de feux", "en": "Signal plan"},
    "cmd.set_plan.about": {"fr": "Passer le contrôleur sur un plan de feux enregistré.",
                           "en": "Switch the controller to a stored signal plan."},
    "cmd.set_plan.plan": {"fr": "Plan", "en": "Plan"},
    "cmd.set_plan.plan.help": {"fr": "Identifiant d'un plan enregistré dans le contrôleur.",
                               "en": "Identifier of a signal plan stored in the controller."},
    "cmd.set_mode": {"fr": "Mode du carrefour", "en": "Junction mode"},
    "cmd.set_mode.about": {
        "fr": "Fonctionnement normal, clignotant orange ou éteint (décision d'un superviseur : "
              "le carrefour n'est plus régulé).",
        "en": "Normal operation, flashing amber or off (a supervisor's decision: the junction "
              "is no longer regulated)."},
    "cmd.set_mode.mode": {"fr": "Mode", "en": "Mode"},
    "cmd.set_mode.mode.help": {"fr": "normal | flashing (clignotant orange) | off (éteint)",
                               "en": "normal | flashing (amber) | off"},
    "cmd.display": {"fr": "Message", "en": "Message"},
    "cmd.display.about": {"fr": "Afficher un message sur le panneau.",
                          "en": "Show a message on the sign."},
    "cmd.display.message": {"fr": "Texte", "en": "Text"},
    "cmd.display.message.help": {"fr": "Texte affiché sur le panneau, 64 caractères au plus.",
                                 "en": "Text shown on the sign, at most 64 characters."},
    "cmd.display.lang": {"fr": "Langue", "en": "Language"},
    "cmd.display.lang.help": {"fr": "Code de langue ISO 639-1 du message (fr, en…).",
                              "en": "ISO 639-1 language of the message (fr, en…)."},
    "cmd.enable": {"fr": "Remettre en service", "en": "Put back in service"},
    "cmd.enable.about": {"fr": "Remettre la borne en service.",
                         "en": "Put the station back in service."},
    "cmd.disable": {"fr": "Mettre hors service", "en": "Take out of service"},
    "cmd.disable.about": {"fr": "Mettre la borne hors service.",
                          "en": "Take the station out of service."},
    "cmd.disable.reason": {"fr": "Motif", "en": "Reason"},
    "cmd.disable.reason.help": {"fr": "Affiché aux usagers, le cas échéant.",
                                "en": "Shown to drivers, if any."},
    "cmd.reboot": {"fr": "Redémarrer", "en": "Restart"},
    "cmd.reboot.about": {"fr": "Redémarrer la caméra (supervision de l'équipement seulement).",
                         "en": "Restart the camera (equipment supervision only)."},
    "common.yes": {"fr": "oui", "en": "yes"},
    "common.no": {"fr": "non", "en": "no"},
})


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
