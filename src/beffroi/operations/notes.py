"""What the platform writes in an incident's history (comments and step notes), in French and
English. Notes typed by people are kept as typed; those the platform writes keep both texts
(``texts`` / ``notes``) beside the English one (``text`` / ``note``), so that the control room
shows them in the operator's language."""

from __future__ import annotations

from typing import Any

from beffroi.texts import Text, fill

TEMPLATES: dict[str, Text] = {
    "assigned": {"fr": "attribué à {kind} {name}", "en": "assigned to {kind} {name}"},
    "alarm": {"fr": "alarme {alarm} ({rule}, {severity})",
              "en": "alarm {alarm} ({rule}, {severity})"},
    "gathered": {"fr": "alarme {alarm} ({rule}, {severity}) sur {asset} rattachée : {message}",
                 "en": "alarm {alarm} ({rule}, {severity}) on {asset} gathered: {message}"},
    "cleared": {"fr": "alarme {alarm} ({rule}) terminée", "en": "alarm {alarm} ({rule}) cleared"},
    "all_cleared": {"fr": "toutes les alarmes sont terminées", "en": "all alarms cleared"},
    "work_order": {"fr": "bon de travaux {id}", "en": "work order {id}"},
    "work_order_on_site": {"fr": "bon de travaux {id} : sur place",
                           "en": "work order {id}: on site"},
}
WORDS: dict[str, Text] = {
    "team": {"fr": "l'équipe", "en": "team"},
    "contractor": {"fr": "l'entreprise", "en": "contractor"},
}


def note(key: str, **values: Any) -> Text:
    """The note in each language; a value may itself be per language (a :data:`Text`), or a
    word of WORDS."""
    words = {name: WORDS[v] if isinstance(v, str) and v in WORDS else v
             for name, v in values.items()}
    return {lang: text.rstrip(" :\u00a0") for lang, text in fill(TEMPLATES[key], **words).items()}
