"""The scrubber of free text: emails and phone numbers out, everything else kept."""

from __future__ import annotations

import pytest

from beffroi.privacy import EMAIL_MARK, PHONE_MARK, scrub

PHONES = [
    "+33 6 12 34 56 78", "+33 (0)6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
    "06.12.34.56.78", "0612345678", "06 12 34 56 78", "06-12-34-56-78", "01 23 45 67 89",
    "09\u00a087\u00a065\u00a043\u00a021", "+1 (415) 555-0100", "+44 20 7946 0958",
    "+49 30 1234567", "415 555 0100", "+32 2 123 45 67",
]
EMAILS = [
    "john.doe@example.org", "JOHN.DOE@EXAMPLE.ORG", "jean-pierre+mairie@ville-exemple.fr",
    "a_b@sub.domain.co.uk", "john.doe @ example . org", "john dot doe at example dot com",
    "jean(at)exemple(point)fr", "jean [at] exemple [dot] fr", "marie arobase exemple point fr",
]
KEPT = [
    "Lampadaire n° 12 éteint depuis le 12/03/2026 à 14h30",
    "Poubelle débordante rue du 8 mai 1945, devant le 27",
    "Nid de poule 2024-11-03, environ 30 cm",
    "Feu tricolore en panne au carrefour RD 137",
    "", "Pas de contact.",
]


@pytest.mark.parametrize("phone", PHONES)
def test_phones_are_removed(phone: str) -> None:
    out = scrub(f"Appelez-moi au {phone} merci")
    assert out == f"Appelez-moi au {PHONE_MARK} merci"


@pytest.mark.parametrize("email", EMAILS)
def test_emails_are_removed(email: str) -> None:
    out = scrub(f"Écrire à {email} svp")
    assert out == f"Écrire à {EMAIL_MARK} svp"


@pytest.mark.parametrize("kept", KEPT)
def test_other_text_is_kept(kept: str) -> None:
    assert scrub(kept) == kept


def test_several_in_one_text_and_none() -> None:
    out = scrub("moi: john.doe@example.org / 0612345678, ou +33 6 12 34 56 78.")
    assert out == f"moi: {EMAIL_MARK} / {PHONE_MARK}, ou {PHONE_MARK}."
    assert scrub(None) is None
