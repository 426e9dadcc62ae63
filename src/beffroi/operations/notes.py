"""What the platform writes in an incident's history (comments and step notes), in French and
English. Notes typed by people are kept as typed; those the platform writes keep both texts
(``texts`` / ``notes``) beside the English one (``text`` / ``note``), so that the control room
shows them in the operator's language."""

from __future__ import annotations

from typing import Any

LANGS = ("fr", "en")
Text = dict[str, str]

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
    """The note in each language; a value may itself be per language (a dict), or a word of
    WORDS."""
    out: Text = {}
    for lang in LANGS:
        given = {k: v.get(lang) or v.get("en", "") if isinstance(v, dict) else
                 WORDS[v][lang] if isinstance(v, str) and v in WORDS else v
                 for k, v in values.items()}
        out[lang] = TEMPLATES[key][lang].format(**given).rstrip(" :\u00a0")
    return out
