"""What a territory starts with: the nine control posts of a merged control centre, routings
by asset type, incident categories with their SLAs, and three crisis plans.

The posts follow Dijon's OnDijon centre (security, municipal police, urban video supervision,
traffic, "Allo Mairie" citizen line, snow) plus lighting & energy, waste and water, the other
domains of the typical offer. The SLA targets are *assumptions* — public contracts do not
publish their delays — chosen from common practice in French public-lighting performance
contracts (isolated lamp: within a few days; a section or cabinet out: same day, on site
within hours), traffic-signal maintenance (a dark crossroads is a safety matter: on site within
the hour), and waste and water operators' service charters. Every territory edits its own.
"""

from __future__ import annotations

from typing import Any

# code → (French name, English name)
POSTS: dict[str, tuple[str, str]] = {
    "security": ("Sécurité", "Security"),
    "police": ("Police municipale", "Municipal police"),
    "supervision": ("Centre de supervision urbain", "Urban supervision centre"),
    "traffic": ("Circulation", "Traffic"),
    "citizen": ("Allô Mairie (ligne citoyenne)", "Citizen line"),
    "snow": ("Viabilité hivernale", "Snow and ice"),
    "lighting": ("Éclairage et énergie", "Lighting and energy"),
    "waste": ("Propreté et déchets", "Waste"),
    "water": ("Eau", "Water"),
}

# Asset type → post. Buildings and charging stations belong to the energy side of the
# lighting & energy post.
TYPE_ROUTINGS: dict[str, str] = {
    "Streetlight": "lighting",
    "StreetlightControlCabinet": "lighting",
    "WasteContainer": "waste",
    "ParkingSpot": "traffic",
    "OffStreetParking": "traffic",
    "TrafficFlowObserved": "traffic",
    "TrafficSignal": "traffic",
    "AirQualityObserved": "supervision",
    "WeatherObserved": "supervision",
    "WaterQualityObserved": "water",
    "Camera": "security",
    "Building": "lighting",
    "EVChargingStation": "lighting",
}

H = 60  # minutes in an hour
D = 24 * H

# code → (French title, English title, post, SLA targets in minutes from "reported")
CATEGORIES: dict[str, tuple[str, str, str, dict[str, int]]] = {
    "lamp-out": ("Point lumineux éteint", "Lamp out", "lighting",
                 {"acknowledged": 4 * H, "on_site": 3 * D, "resolved": 5 * D}),
    "lighting-section-out": ("Secteur d'éclairage éteint", "Lighting section out", "lighting",
                             {"acknowledged": 15, "on_site": 4 * H, "resolved": 1 * D}),
    "energy-anomaly": ("Anomalie de consommation", "Energy anomaly", "lighting",
                       {"acknowledged": 1 * D, "resolved": 7 * D}),
    "ev-charger-fault": ("Borne de recharge hors service", "EV charger out of service",
                         "lighting", {"acknowledged": 2 * H, "on_site": 2 * D,
                                      "resolved": 5 * D}),
    "traffic-signal-fault": ("Feux tricolores en panne", "Traffic signal fault", "traffic",
                             {"acknowledged": 5, "on_site": 1 * H, "resolved": 4 * H}),
    "traffic-congestion": ("Congestion", "Congestion", "traffic",
                           {"acknowledged": 5, "resolved": 2 * H}),
    "parking": ("Stationnement", "Parking", "traffic",
                {"acknowledged": 1 * H, "resolved": 1 * D}),
    "waste-overflow": ("Conteneur plein ou débordant", "Container full or overflowing",
                       "waste", {"acknowledged": 2 * H, "on_site": 1 * D, "resolved": 2 * D}),
    "container-fire": ("Feu de conteneur", "Container fire", "security",
                       {"acknowledged": 5, "on_site": 30, "resolved": 4 * H}),
    "air-quality": ("Pollution de l'air", "Air pollution episode", "supervision",
                    {"acknowledged": 15, "resolved": 1 * D}),
    "weather": ("Alerte météo", "Weather alert", "supervision",
                {"acknowledged": 15, "resolved": 1 * D}),
    "water-quality": ("Qualité de l'eau", "Water quality", "water",
                      {"acknowledged": 15, "on_site": 2 * H, "resolved": 1 * D}),
    "water-leak": ("Fuite d'eau", "Water leak", "water",
                   {"acknowledged": 15, "on_site": 2 * H, "resolved": 1 * D}),
    "camera-fault": ("Caméra hors service", "Camera out of service", "security",
                     {"acknowledged": 15, "on_site": 1 * D, "resolved": 3 * D}),
    "snow-ice": ("Neige et verglas", "Snow and ice", "snow",
                 {"acknowledged": 10, "on_site": 2 * H, "resolved": 12 * H}),
    "public-order": ("Ordre public", "Public order", "police",
                     {"acknowledged": 5, "on_site": 30, "resolved": 4 * H}),
    "resident-report": ("Signalement d'habitant", "Resident's report", "citizen",
                        {"acknowledged": 1 * D, "resolved": 15 * D}),
    "sensor-fault": ("Capteur muet ou défaillant", "Sensor silent or faulty", "supervision",
                     {"acknowledged": 1 * D, "resolved": 7 * D}),
    "other": ("Autre", "Other", "supervision", {"acknowledged": 1 * H, "resolved": 3 * D}),
}

# Crisis plans shipped to every territory. Rule ids are the territory's own: the shipped plans
# switch none (add yours with PUT); they re-route and send standing commands.
PLANS: dict[str, dict[str, Any]] = {
    "snow": {
        "title": "Plan neige / Snow plan",
        "post": "snow",
        "description": "Snow or black ice: the snow post takes road and weather incidents; "
                       "lighting at full power on the main roads.",
        "rules": [],
        "routings": {"WeatherObserved": "snow", "TrafficFlowObserved": "snow",
                     "category:weather": "snow", "category:traffic-congestion": "snow"},
        # Cabinets resume their own programme at its next step: nothing to release.
        "commands": [{"selector": {"type": "StreetlightControlCabinet"},
                      "command": "dim", "params": {"level": 100}}],
        "release_commands": [],
    },
    "flood": {
        "title": "Plan inondation / Flood plan",
        "post": "supervision",
        "description": "Flood: the supervision centre coordinates; water and weather alarms "
                       "and leaks go to it; car park signs announce the closure.",
        "rules": [],
        "routings": {"WaterQualityObserved": "supervision", "WeatherObserved": "supervision",
                     "category:water-leak": "supervision", "category:weather": "supervision"},
        "commands": [{"selector": {"type": "OffStreetParking"}, "command": "display",
                      "params": {"message": "Fermé : risque d'inondation"}}],
        "release_commands": [{"selector": {"type": "OffStreetParking"}, "command": "display",
                              "params": {"message": "Ouvert"}}],
    },
    "major-event": {
        "title": "Grand événement / Major event",
        "post": "security",
        "description": "A major event: security coordinates; traffic signals run the event "
                       "plan; crowd-related reports go to the police.",
        "rules": [],
        "routings": {"Camera": "security", "category:public-order": "police",
                     "category:traffic-congestion": "traffic"},
        "commands": [{"selector": {"type": "TrafficSignal"},
                      "command": "set_plan", "params": {"plan": "event"}}],
        "release_commands": [{"selector": {"type": "TrafficSignal"},
                              "command": "set_plan", "params": {"plan": "normal"}}],
    },
}
