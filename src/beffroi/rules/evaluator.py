"""Incremental evaluation of the rules of one territory.

The evaluator keeps, per territory and in memory, the compiled rules, an index from series id
to the few rule bindings that concern that series (built lazily the first time a series shows
up, from its asset's type, domain, position, parent and URN), the state of every condition
(pending since, last value, members failing, parts holding) and the open alarms. Evaluating a
batch therefore costs a dictionary look-up per reading plus the work of the rules bound to its
series — never a scan of history or of all rules.

It does no I/O: :class:`beffroi.rules.service.Rules` loads what it needs and writes the
:class:`Action` s it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from beffroi.rules.definitions import (
    OPS,
    All,
    Group,
    Rate,
    Rule,
    Silent,
    State,
    Stuck,
    Threshold,
)
from beffroi.rules.messages import (
    ENDED,
    Duration,
    Joined,
    Msg,
    Share,
    Signed,
    alarm_text,
    msg,
)
from beffroi.texts import LANGS, Text

Reading = tuple[int, int, float | None, str | None]
# The periodic pass raises a duration that elapsed without a new reading only if the last
# reading is not older than the duration plus this much (or the duration again, if longer).
STALE_AFTER_MS = 3_600_000


@dataclass(slots=True)
class AssetInfo:
    id: int
    urn: str
    type: str
    domain: str
    lon: float
    lat: float
    parent_id: int | None
    post: str | None
    properties: dict[str, Any]


@dataclass(slots=True)
class Binding:
    rule: Rule
    role: str  # "direct" | "silent" | "member" | "part"
    part: int = 0


@dataclass(slots=True)
class OpenAlarm:
    id: int  # 0 until the raise is written
    rule_id: str
    asset_id: int | None
    state: str
    post: str | None = None


@dataclass(slots=True)
class Action:
    change: str  # "raise" | "update" | "clear"
    rule: Rule
    key: str  # dedupe key: rule id and asset id (or "*")
    asset: AssetInfo | None
    at_ms: int
    value: float | None = None
    text: str | None = None
    message: Text | None = None  # per language (texts.LANGS)
    alarm: OpenAlarm | None = None  # shared with ``TerritoryRules.open``: the writer fills id


@dataclass(slots=True)
class Pending:
    """A threshold, state or stuck condition on one asset."""

    since: int | None = None  # when the condition started holding (stuck: the value's start)
    ref: float | None = None  # stuck: the value that does not move
    last_ts: int | None = None
    last_value: float | None = None
    last_text: str | None = None
    suppressed: bool = False  # cleared by hand while holding: wait for the condition to end


def alarm_key(rule_id: str, asset_id: int | None) -> str:
    return f"{rule_id}|{'*' if asset_id is None else asset_id}"


class TerritoryRules:
    """The compiled rules and the evaluation state of one territory."""

    def __init__(self, territory_id: int, code: str, rules: list[Rule],
                 versions: dict[str, int]) -> None:
        self.territory_id = territory_id
        self.code = code
        self.rules = {r.id: r for r in rules}
        self.versions = versions
        # each rule's name per language, for its alarms' messages (built once, not per reading)
        self.labels = {r.id: {lang: r.label(lang) for lang in LANGS} for r in rules}
        self.by_metric: dict[str, list[tuple[Rule, str, int]]] = {}
        self.silent_rules: list[Rule] = []
        for r in rules:
            w = r.when
            if isinstance(w, Silent):
                self.silent_rules.append(r)
            elif isinstance(w, Group):
                self.by_metric.setdefault(w.condition.metric, []).append((r, "member", 0))
            elif isinstance(w, All):
                for i, c in enumerate(w.conditions):
                    self.by_metric.setdefault(c.metric, []).append((r, "part", i))
            else:
                self.by_metric.setdefault(w.metric, []).append((r, "direct", 0))
        self.series: dict[int, tuple[AssetInfo, str, list[Binding]]] = {}
        self.assets: dict[int, AssetInfo] = {}
        self.last_ts: dict[int, int] = {}  # series id → newest reading evaluated
        self.pending: dict[tuple[str, int], Pending] = {}  # (rule, asset id)
        self.timed: set[tuple[str, int]] = set()  # pending states a tick may raise
        self.open: dict[str, OpenAlarm] = {}
        self.suppressed: set[str] = set()  # keys cleared by hand while their condition held
        # silence: rule → asset id → last reading time
        self.seen: dict[str, dict[int, int]] = {r.id: {} for r in self.silent_rules}
        # groups: rule → parent id → member ids (all, failing)
        self.members: dict[str, dict[int, set[int]]] = {}
        self.failing: dict[str, dict[int, set[int]]] = {}
        # combinations: (rule, asset id or 0) → part → asset id → (ts, holds)
        self.parts: dict[tuple[str, int], list[dict[int, int]]] = {}
        self.history_needed: int = 0
        self.quiet = False  # replaying history: conditions move, alarms do not
        for r in rules:
            w = r.when
            need = 0
            if isinstance(w, Threshold | State | Stuck):
                need = w.for_ms
            elif isinstance(w, Rate):
                need = w.per_ms
            self.history_needed = max(self.history_needed, need)

    # --- bindings ---------------------------------------------------------------------------

    def bindings_for(self, asset: AssetInfo, metric: str,
                     parents: dict[int, AssetInfo]) -> list[Binding]:
        out: list[Binding] = []
        for rule, role, part in self.by_metric.get(metric, ()):
            w = rule.when
            if role == "direct":
                if rule.scope.admits(asset.urn, asset.type, asset.domain, asset.lon, asset.lat):
                    out.append(Binding(rule, role))
            elif role == "member":
                assert isinstance(w, Group)
                parent = parents.get(asset.parent_id) if asset.parent_id is not None else None
                if (parent is not None
                        and w.member.admits(asset.urn, asset.type, asset.domain, asset.lon,
                                            asset.lat)
                        and rule.scope.admits(parent.urn, parent.type, parent.domain,
                                              parent.lon, parent.lat)):
                    out.append(Binding(rule, role))
                    members = self.members.setdefault(rule.id, {}).setdefault(parent.id, set())
                    members.add(asset.id)
            else:
                assert isinstance(w, All)
                scope = w.conditions[part].scope or rule.scope
                if w.over == "asset":
                    scope = rule.scope
                if scope.admits(asset.urn, asset.type, asset.domain, asset.lon, asset.lat):
                    out.append(Binding(rule, role, part))
        for rule in self.silent_rules:
            w = rule.when
            assert isinstance(w, Silent)
            if (w.metric is None or w.metric == metric) and rule.scope.admits(
                    asset.urn, asset.type, asset.domain, asset.lon, asset.lat):
                out.append(Binding(rule, "silent"))
        return out

    def bind(self, series_id: int, asset: AssetInfo, metric: str,
             parents: dict[int, AssetInfo]) -> list[Binding]:
        self.assets[asset.id] = asset
        for p in parents.values():
            self.assets.setdefault(p.id, p)
        found = self.bindings_for(asset, metric, parents)
        self.series[series_id] = (asset, metric, found)
        return found

    # --- evaluation -------------------------------------------------------------------------

    def evaluate(self, rows: Iterable[Reading], now_ms: int, quiet: bool = False
                 ) -> list[Action]:
        """Rows of known series, in time order; stale ones are skipped.
        ``quiet``: rebuild state from history without producing actions."""
        actions: list[Action] = []
        self.quiet = quiet
        emit: Callable[[Action], None] = (lambda a: None) if quiet else actions.append
        try:
            self._evaluate(rows, now_ms, emit)
        finally:
            self.quiet = False
        return actions

    def _evaluate(self, rows: Iterable[Reading], now_ms: int, emit: Callable[[Action], None]
                  ) -> None:
        series, last_ts = self.series, self.last_ts
        for sid, ts, value, txt in rows:
            entry = series.get(sid)
            if entry is None or not entry[2]:
                continue  # no rule concerns this series: one look-up
            last = last_ts.get(sid)
            if last is not None and ts <= last:
                continue  # a replayed or late reading: its moment has been evaluated
            last_ts[sid] = ts
            asset, _metric, bindings = entry
            for b in bindings:
                kind = b.role
                if kind == "direct":
                    self._direct(b.rule, asset, ts, value, txt, emit)
                elif kind == "silent":
                    self._seen(b.rule, asset, ts, emit)
                elif kind == "member":
                    self._member(b.rule, asset, ts, value, txt, emit)
                else:
                    self._part(b.rule, b.part, asset, ts, value, txt, now_ms, emit)

    def _raise(self, rule: Rule, asset: AssetInfo | None, ts: int, value: float | None,
               txt: str | None, message: Text, emit: Callable[[Action], None]) -> None:
        key = alarm_key(rule.id, asset.id if asset else None)
        if key in self.suppressed or self.quiet:
            return
        alarm = self.open.get(key)
        if alarm is not None:
            emit(Action("update", rule, key, asset, ts, value, txt, message, alarm))
        else:
            alarm = self.open[key] = OpenAlarm(0, rule.id, asset.id if asset else None,
                                               "raised")
            emit(Action("raise", rule, key, asset, ts, value, txt, message, alarm))

    def _clear(self, rule: Rule, asset: AssetInfo | None, ts: int, value: float | None,
               txt: str | None, emit: Callable[[Action], None]) -> None:
        key = alarm_key(rule.id, asset.id if asset else None)
        self.suppressed.discard(key)
        if self.quiet:
            return
        alarm = self.open.pop(key, None)
        if alarm is not None:
            emit(Action("clear", rule, key, asset, ts, value, txt, ENDED, alarm))

    def _direct(self, rule: Rule, asset: AssetInfo, ts: int, value: float | None,
                txt: str | None, emit: Callable[[Action], None]) -> None:
        w = rule.when
        pkey = (rule.id, asset.id)
        st = self.pending.get(pkey)
        if st is None:
            st = self.pending[pkey] = Pending()
        key = alarm_key(rule.id, asset.id)
        is_open = key in self.open
        st.last_ts, st.last_value, st.last_text = ts, value, txt
        if isinstance(w, Threshold | State):
            if isinstance(w, Threshold):
                if value is None:
                    return
                holds = w.holds(value)
                ends = w.ends(value)
                what = msg("threshold", metric=w.metric, value=value, op=w.op, limit=w.value)
            else:
                if txt is None:
                    return
                holds = txt in w.values
                ends = not holds
                what = msg("state", metric=w.metric, state=txt)
            if is_open:
                if ends:
                    st.since = None
                    self.timed.discard(pkey)
                    self._clear(rule, asset, ts, value, txt, emit)
                else:
                    self._raise(rule, asset, ts, value, txt, self._message(rule, what), emit)
                return
            if not holds:
                st.since = None
                self.timed.discard(pkey)
                self.suppressed.discard(key)
                return
            if st.since is None:
                st.since = ts
            if ts - st.since >= w.for_ms:
                self.timed.discard(pkey)
                if w.for_ms:
                    what = msg("held", what=what, duration=Duration(ts - st.since))
                self._raise(rule, asset, ts, value, txt, self._message(rule, what), emit)
            else:
                self.timed.add(pkey)
            return
        if isinstance(w, Stuck):
            if value is None:
                return
            if st.ref is None or abs(value - st.ref) > w.tolerance:
                st.ref, st.since = value, ts
                self.timed.discard(pkey)
                self._clear(rule, asset, ts, value, txt, emit)
                return
            assert st.since is not None
            if ts - st.since >= w.for_ms:
                self.timed.discard(pkey)
                self._raise(rule, asset, ts, value, txt, self._message(rule, msg(
                    "held", what=msg("stuck", metric=w.metric, value=value),
                    duration=Duration(ts - st.since))), emit)
            else:
                self.timed.add(pkey)
            return
        assert isinstance(w, Rate)
        if value is None:
            return
        prev_ts, prev = st.since, st.ref
        st.since, st.ref = ts, value
        if prev_ts is None or prev is None or ts <= prev_ts:
            return
        rate = (value - prev) / (ts - prev_ts) * w.per_ms
        if w.direction == "up":
            hit = rate > w.change
        elif w.direction == "down":
            hit = -rate > w.change
        else:
            hit = abs(rate) > w.change
        if hit:
            self._raise(rule, asset, ts, value, txt, self._message(rule, msg(
                "rate", metric=w.metric, rate=Signed(rate), per=Duration(w.per_ms))), emit)
        else:
            self._clear(rule, asset, ts, value, txt, emit)

    def _message(self, rule: Rule, what: Msg) -> Text:
        return alarm_text(self.labels[rule.id], what)

    def _seen(self, rule: Rule, asset: AssetInfo, ts: int, emit: Callable[[Action], None]
              ) -> None:
        seen = self.seen.setdefault(rule.id, {})
        if ts > seen.get(asset.id, 0):
            seen[asset.id] = ts
        self._clear(rule, asset, ts, None, None, emit)

    def _member(self, rule: Rule, member: AssetInfo, ts: int, value: float | None,
                txt: str | None, emit: Callable[[Action], None]) -> None:
        w = rule.when
        assert isinstance(w, Group)
        c = w.condition
        if isinstance(c, Threshold):
            if value is None:
                return
            holds = c.holds(value)
        else:
            if txt is None:
                return
            holds = txt in c.values
        parent_id = member.parent_id
        if parent_id is None:
            return
        failing = self.failing.setdefault(rule.id, {}).setdefault(parent_id, set())
        if holds:
            failing.add(member.id)
        else:
            failing.discard(member.id)
        self._judge_group(rule, parent_id, ts, emit)

    def judge_group(self, rule: Rule, parent_id: int, ts: int) -> list[Action]:
        out: list[Action] = []
        self._judge_group(rule, parent_id, ts, out.append)
        return out

    def _judge_group(self, rule: Rule, parent_id: int, ts: int,
                     emit: Callable[[Action], None]) -> None:
        w = rule.when
        assert isinstance(w, Group)
        total = len(self.members.get(rule.id, {}).get(parent_id, ()))
        bad = len(self.failing.get(rule.id, {}).get(parent_id, ()))
        parent = self.assets.get(parent_id)
        if parent is None or total == 0:
            return
        share = bad / total
        hit = total >= w.min_members and bad > 0
        if w.share_op is not None and w.share is not None:
            hit = hit and OPS[w.share_op](share, w.share)
        if w.count_op is not None and w.count is not None:
            hit = hit and OPS[w.count_op](float(bad), float(w.count))
        if hit:
            self._raise(rule, parent, ts, share, None, self._message(rule, msg(
                "group_state" if isinstance(w.condition, State) else "group_threshold",
                bad=bad, total=total, share=Share(share))), emit)
        else:
            self._clear(rule, parent, ts, share, None, emit)

    def _part(self, rule: Rule, part: int, asset: AssetInfo, ts: int, value: float | None,
              txt: str | None, now_ms: int, emit: Callable[[Action], None]) -> None:
        w = rule.when
        assert isinstance(w, All)
        c = w.conditions[part]
        if isinstance(c, Threshold):
            if value is None:
                return
            holds = c.holds(value)
        else:
            if txt is None:
                return
            holds = txt in c.values
        pk = (rule.id, asset.id if w.over == "asset" else 0)
        parts = self.parts.get(pk)
        if parts is None:
            parts = self.parts[pk] = [{} for _ in w.conditions]
        if holds:
            parts[part][asset.id] = ts
        else:
            parts[part].pop(asset.id, None)
        # freshness is judged at the reading's time (replayed history is judged as it was)
        self._judge_all(rule, pk, asset if w.over == "asset" else None, ts, emit)

    def _judge_all(self, rule: Rule, pk: tuple[str, int], asset: AssetInfo | None, now: int,
                   emit: Callable[[Action], None]) -> None:
        w = rule.when
        assert isinstance(w, All)
        parts = self.parts.get(pk) or [{} for _ in w.conditions]
        holding: list[int] = []
        for held in parts:
            fresh = [a for a, t in held.items() if 0 <= now - t <= w.max_age_ms]
            if not fresh:
                break
            holding.append(fresh[0])
        if len(holding) == len(w.conditions):
            what = Joined(tuple(self._part_text(c) for c in w.conditions))
            self._raise(rule, asset, now, None, None, self._message(
                rule, msg("all", parts=what)), emit)
        else:
            self._clear(rule, asset, now, None, None, emit)

    @staticmethod
    def _part_text(c: Threshold | State) -> Msg:
        if isinstance(c, Threshold):
            return msg("part_threshold", metric=c.metric, op=c.op, limit=c.value)
        return msg("part_state", metric=c.metric, states=sorted(c.values))

    # --- the periodic pass ------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Action]:
        """Conditions that time alone makes true or false: silence, and durations that elapse
        without a new reading."""
        actions: list[Action] = []
        for pkey in list(self.timed):
            rule = self.rules.get(pkey[0])
            st = self.pending.get(pkey)
            asset = self.assets.get(pkey[1])
            if rule is None or st is None or st.since is None or asset is None:
                self.timed.discard(pkey)
                continue
            w = rule.when
            duration = w.for_ms if isinstance(w, Threshold | State | Stuck) else 0
            last = st.last_ts if st.last_ts is not None else st.since
            if now_ms - last > duration + max(duration, STALE_AFTER_MS):
                self.timed.discard(pkey)  # old data (a backfill): time alone proves nothing
                continue
            if now_ms - st.since >= duration:
                self.timed.discard(pkey)
                metric = w.metric if isinstance(w, Threshold | State | Stuck) else ""
                what = (msg("stuck", metric=metric, value=st.last_value)
                        if isinstance(w, Stuck) else
                        msg("value", metric=metric, value=st.last_text
                            if st.last_text is not None else st.last_value))
                self._raise(rule, asset, now_ms, st.last_value, st.last_text, self._message(
                    rule, msg("stale", what=what, duration=Duration(now_ms - st.since),
                              since=Duration(now_ms - (st.last_ts or st.since)))),
                    actions.append)
        for (rule_id, asset_id), _parts in list(self.parts.items()):
            # a combination whose readings grew stale no longer holds: clear it
            rule = self.rules.get(rule_id)
            key = alarm_key(rule_id, asset_id or None)
            if rule is None or key not in self.open:
                continue
            self._judge_all(rule, (rule_id, asset_id),
                            self.assets.get(asset_id) if asset_id else None, now_ms,
                            actions.append)
        for rule in self.silent_rules:
            w = rule.when
            assert isinstance(w, Silent)
            for asset_id, last in self.seen.get(rule.id, {}).items():
                asset = self.assets.get(asset_id)
                if asset is None:
                    continue
                limit = self.silence_limit(w, asset)
                if limit is None or now_ms - last <= limit:
                    continue
                key = alarm_key(rule.id, asset_id)
                if key in self.open or key in self.suppressed:
                    continue
                self._raise(rule, asset, now_ms, None, None, self._message(
                    rule, msg("silent", duration=Duration(now_ms - last),
                              limit=Duration(limit))), actions.append)
        return actions

    @staticmethod
    def silence_limit(w: Silent, asset: AssetInfo) -> int | None:
        if w.after_ms is not None:
            return w.after_ms
        if w.factor is None:
            return None
        period = asset.properties.get("reporting_period_s") if asset.properties else None
        if isinstance(period, int | float) and not isinstance(period, bool) and period > 0:
            return int(w.factor * period * 1000)
        return int(w.factor * w.period_ms) if w.period_ms else None

