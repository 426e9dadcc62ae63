"""What an alarm says, in French and in English.

The evaluator describes why it raised an alarm as a :class:`Msg` (a template key and its
values); :func:`alarm_text` renders it in every language the platform speaks, after the rule's
name in that language. Alarms keep both texts (``messages``), and the incidents they open keep
them as their titles, so that the control room shows them in the operator's language. The
English text is also kept as the alarm's ``message`` (for API clients and the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beffroi.texts import LANGS, Text

TEMPLATES: dict[str, Text] = {
    "threshold": {"fr": "{metric} {value} {op} {limit}", "en": "{metric} {value} {op} {limit}"},
    "state": {"fr": "{metric} à l'état {state}", "en": "{metric} is {state}"},
    "held": {"fr": "{what} depuis {duration}", "en": "{what} for {duration}"},
    "stuck": {"fr": "{metric} bloqué à {value}", "en": "{metric} stuck at {value}"},
    "rate": {"fr": "{metric} varie de {rate} par {per}",
             "en": "{metric} changed at {rate} per {per}"},
    "group_state": {"fr": "{bad} membres sur {total} ({share}) en défaut",
                    "en": "{bad} of {total} members ({share}) fail"},
    "group_threshold": {"fr": "{bad} membres sur {total} ({share}) au-delà du seuil",
                        "en": "{bad} of {total} members ({share}) beyond threshold"},
    "part_threshold": {"fr": "{metric} {op} {limit}", "en": "{metric} {op} {limit}"},
    "part_state": {"fr": "{metric} parmi {states}", "en": "{metric} in {states}"},
    "all": {"fr": "{parts}", "en": "{parts}"},
    "value": {"fr": "{metric} {value}", "en": "{metric} {value}"},
    "stale": {"fr": "{what} depuis {duration} (aucune mesure depuis {since})",
              "en": "{what} for {duration} (no reading since {since})"},
    "silent": {"fr": "aucune mesure depuis {duration} (limite {limit})",
               "en": "no reading for {duration} (limit {limit})"},
}
AND: Text = {"fr": " et ", "en": " and "}
SEPARATOR: Text = {"fr": "\u00a0: ", "en": ": "}
ENDED: Text = {"fr": "condition terminée", "en": "condition ended"}


@dataclass(frozen=True, slots=True)
class Duration:
    ms: int


@dataclass(frozen=True, slots=True)
class Share:
    fraction: float


@dataclass(frozen=True, slots=True)
class Signed:
    value: float  # shown with its sign (a rate of change)


@dataclass(frozen=True, slots=True)
class Joined:
    parts: tuple[Msg, ...]  # joined with "and" / "et"


@dataclass(frozen=True, slots=True)
class Msg:
    key: str
    values: tuple[tuple[str, Any], ...]

    def render(self, lang: str) -> str:
        template = TEMPLATES[self.key]
        text = template.get(lang) or template["en"]
        return text.format(**{name: _render(value, lang) for name, value in self.values})


def msg(key: str, **values: Any) -> Msg:
    assert key in TEMPLATES, key
    return Msg(key, tuple(values.items()))


def _number(value: float, lang: str, spec: str = "g") -> str:
    text = format(value, spec)
    return text.replace(".", ",") if lang == "fr" else text


def human_duration(ms: int, lang: str) -> str:
    """3 h 05 min, 2 j 4 h / 2 d 4 h, 31 min, 45 s (rounded down to the unit shown)."""
    seconds = max(0, ms) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes:02d} min" if minutes else "")
    days, hours = divmod(hours, 24)
    day = "j" if lang == "fr" else "d"
    return f"{days} {day}" + (f" {hours} h" if hours else "")


def _render(value: Any, lang: str) -> str:
    if isinstance(value, Msg):
        return value.render(lang)
    if isinstance(value, Joined):
        return AND.get(lang, AND["en"]).join(p.render(lang) for p in value.parts)
    if isinstance(value, Duration):
        return human_duration(value.ms, lang)
    if isinstance(value, Share):
        percent = f"{value.fraction * 100:.0f}"
        return f"{percent}\u00a0%" if lang == "fr" else f"{percent}%"
    if isinstance(value, Signed):
        return _number(value.value, lang, "+.3g")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | int):
        return _number(float(value), lang)
    if value is None:
        return "?"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(sorted(str(v) for v in value))
    return str(value)


def alarm_text(label: Text, what: Msg) -> Text:
    """The rule's name (``label``: per language) and why, in every language."""
    return {lang: f"{label[lang]}{SEPARATOR[lang]}{what.render(lang)}" for lang in LANGS}
