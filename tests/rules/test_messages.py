"""Alarm messages in French and English: exact texts for each kind of reason."""

from __future__ import annotations

from beffroi.rules.messages import (
    Duration,
    Joined,
    Share,
    Signed,
    alarm_text,
    human_duration,
    msg,
)
from beffroi.texts import english

NAME = {"fr": "Lampe en panne", "en": "Lamp failed"}


def test_threshold_held_for_a_while() -> None:
    what = msg("held", what=msg("threshold", metric="no2", value=212.5, op=">", limit=200),
               duration=Duration(3 * 3_600_000 + 5 * 60_000))
    assert alarm_text(NAME, what) == {
        "fr": "Lampe en panne\u00a0: no2 212,5 > 200 depuis 3 h 05 min",
        "en": "Lamp failed: no2 212.5 > 200 for 3 h 05 min"}


def test_group_share_rate_and_combinations() -> None:
    group = msg("group_state", bad=3, total=10, share=Share(0.3))
    assert group.render("fr") == "3 membres sur 10 (30\u00a0%) en défaut"
    assert group.render("en") == "3 of 10 members (30%) fail"
    rate = msg("rate", metric="level", rate=Signed(-0.125), per=Duration(3_600_000))
    assert rate.render("fr") == "level varie de -0,125 par 1 h"
    assert rate.render("en") == "level changed at -0.125 per 1 h"
    both = msg("all", parts=Joined((
        msg("part_threshold", metric="temperature", op="<", limit=1),
        msg("part_state", metric="sky", states=["snow", "rain"]))))
    assert both.render("fr") == "temperature < 1 et sky parmi rain, snow"
    assert both.render("en") == "temperature < 1 and sky in rain, snow"


def test_silence_and_stale_readings() -> None:
    silent = msg("silent", duration=Duration(2 * 86_400_000 + 3_600_000),
                 limit=Duration(30 * 60_000))
    assert silent.render("fr") == "aucune mesure depuis 2 j 1 h (limite 30 min)"
    assert silent.render("en") == "no reading for 2 d 1 h (limit 30 min)"
    stale = msg("stale", what=msg("value", metric="status", value=None),
                duration=Duration(45_000), since=Duration(61_000))
    assert stale.render("en") == "status ? for 45 s (no reading since 1 min)"


def test_durations_and_english() -> None:
    assert [human_duration(ms, "fr") for ms in (0, 59_999, 60_000, 3_600_000, 86_400_000)] == [
        "0 s", "59 s", "1 min", "1 h", "1 j"]
    assert english({"fr": "a", "en": "b"}) == "b" and english(None) == ""
