"""Texts the platform writes in each language it speaks: French (the default) and English.

A :data:`Text` holds one string per language. Alarm messages (``rules.messages``), incident
titles and the notes the platform writes in incidents' history (``operations.notes``) are kept
as such, and the UI (``web.i18n``) speaks the same languages.
"""

from __future__ import annotations

from typing import Any

LANGS = ("fr", "en")
Text = dict[str, str]  # one text per language of LANGS


def fill(template: Text, **values: Any) -> Text:
    """The template filled in each language; a value that is itself a :data:`Text` gives its
    own language's text (else the English one)."""
    return {lang: template[lang].format(**{
        name: (value.get(lang) or value.get("en", "")) if isinstance(value, dict) else value
        for name, value in values.items()}) for lang in LANGS}


def english(text: Text | None) -> str:
    """The English text (what the API's single-language fields keep)."""
    return text.get("en", "") if text else ""
