"""Scrubbing of free text before it is shown to the public (Open311 answers, public pages,
open-data exports): email addresses and phone numbers are replaced.

The patterns favour recall over precision: a published description may lose a number that was
not a phone number (a long reference), never keep one that was. Dates and times (``12/03/2026``,
``14h30``) and short numbers (``n° 12``) are kept.
"""

from __future__ import annotations

import re

EMAIL_MARK = "[courriel masqué / email removed]"
PHONE_MARK = "[téléphone masqué / phone removed]"

_AT = r"(?:@|\s*[\(\[\{<]\s*(?:at|arobase|chez)\s*[\)\]\}>]\s*|\s+(?:at|arobase)\s+)"
_DOT = r"(?:\.|\s*[\(\[\{<]\s*(?:dot|point)\s*[\)\]\}>]\s*|\s+(?:dot|point)\s+)"
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"\s*@\s*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\s*\.\s*[A-Za-z0-9](?:[A-Za-z0-9-]*"
    r"[A-Za-z0-9])?)+",
)
# "john dot doe at example dot com", "jean(at)exemple(point)fr"
_OBFUSCATED_EMAIL = re.compile(
    rf"\b[A-Za-z0-9._%+-]+(?:{_DOT}[A-Za-z0-9_%+-]+)*{_AT}[A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)*"
    rf"{_DOT}[A-Za-z]{{2,12}}\b",
    re.IGNORECASE,
)
_SEP = r"[\s.\-/()\u00a0\u202f]*"
# International: +33 6 12 34 56 78, 0033 612345678, +1 (415) 555-0100, +44 20 7946 0958.
_INTL = re.compile(rf"(?<![\w+])(?:\+|00)\s*\d{{1,3}}{_SEP}(?:\(0\){_SEP})?(?:\d{_SEP}){{6,13}}\d")
# French national: 06 12 34 56 78, 06.12.34.56.78, 0612345678, 06-12-34-56-78, 01 23 45 67 89.
_FR = re.compile(r"(?<![\w])0[1-9](?:[\s.\-\u00a0\u202f]?\d{2}){4}(?!\w)")
# Other long digit runs with separators (9 to 15 digits), e.g. "415 555 0100".
_LONG = re.compile(r"(?<![\w/:])\(?\d{2,4}\)?(?:[\s.\-\u00a0]\d{2,4}){2,5}(?![\w/:])")


def _digits(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _long_number(match: re.Match[str]) -> str:
    return PHONE_MARK if 9 <= _digits(match.group(0)) <= 15 else match.group(0)


def scrub(text: str | None) -> str | None:
    """The text with email addresses and phone numbers replaced by a mark."""
    if text is None:
        return None
    out = _EMAIL.sub(EMAIL_MARK, text)
    out = _OBFUSCATED_EMAIL.sub(EMAIL_MARK, out)
    out = _INTL.sub(PHONE_MARK, out)
    out = _FR.sub(PHONE_MARK, out)
    out = _LONG.sub(_long_number, out)
    return out


def contains_contact(text: str) -> bool:
    """Whether the text holds something :func:`scrub` would remove."""
    return scrub(text) != text
