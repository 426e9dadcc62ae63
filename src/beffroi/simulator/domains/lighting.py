"""Public lighting: lamps switched by their cabinet's photocell at dusk and dawn, LED dimming,
lamp failures by technology and their repair, cabinet trips, cabinet energy metering.

Lamps report on change, as telemanagement nodes do: ``powerState`` at dusk and dawn, ``status``
when a lamp fails (at ignition, when most lamps die) and when it is repaired; telemanaged (LED)
lamps also report ``activePower`` and ``illuminanceLevel`` when they switch or dim. A tripped
cabinet cuts its lamps, which fall silent until it is reset. Cabinets meter the energy of their
working lamps (with control-gear losses) every tick, and report power and voltage every hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from beffroi.simulator import seeding
from beffroi.simulator.clock import Tick, local_ms
from beffroi.simulator.domains.base import Conditions, Context, Domain, every
from beffroi.simulator.emit import Emitter
from beffroi.simulator.models import (
    DEFAULT_TECHNOLOGY,
    HOUR_MS,
    LAMP_TECHNOLOGIES,
    LIGHTING,
    TICK_MS,
    SimAsset,
    lamp_power_distribution,
)
from beffroi.simulator.sun import MS_PER_DEGREE_LONGITUDE, SunTable

NEVER = np.iinfo(np.int64).max
LAMP = "Streetlight"
CABINET = "StreetlightControlCabinet"
ON, DIM, UNDIM, OFF = 0, 1, 2, 3
TECH_CODES = tuple(LAMP_TECHNOLOGIES)


@dataclass(slots=True)
class _Night:
    """Switching times of one night (dusk of ``day`` to dawn of the next day)."""

    cab_on: np.ndarray  # ms, per cabinet (real and virtual)
    cab_off: np.ndarray
    dim_start: int
    dim_end: int
    times: np.ndarray  # lamp events, sorted by time
    lamps: np.ndarray
    codes: np.ndarray


class Lighting(Domain):
    types = (LAMP, CABINET)
    key = "lighting"

    def __init__(self, ctx: Context, assets: Sequence[tuple[int, SimAsset]]) -> None:
        super().__init__(ctx, assets)
        cal = LIGHTING
        is_lamp = np.array([a.type == LAMP for a in self.assets], dtype=bool)
        self.lamp_gid = self.gids[is_lamp]
        self.cab_gid = self.gids[~is_lamp]
        lamps = [a for a in self.assets if a.type == LAMP]
        cabinets = [a for a in self.assets if a.type == CABINET]
        index = {a.urn: i for i, a in enumerate(cabinets)}
        self.n_real = len(cabinets)
        lons = [a.lon for a in cabinets]
        keys = [a.urn for a in cabinets]
        lamp_cab = np.empty(len(lamps), dtype=np.int64)
        for i, a in enumerate(lamps):
            c = index.get(a.parent or "")
            if c is None:  # a lamp without a cabinet has its own photocell
                c = len(lons)
                lons.append(a.lon)
                keys.append(a.urn)
            lamp_cab[i] = c
        self.lamp_cab = lamp_cab
        self.n_cab = len(lons)
        lamp_urns = [a.urn for a in lamps]
        seed = ctx.seed
        # Photocell level per cabinet, and its shift from the centre's times (longitude).
        low, high = cal.switch_elevation_deg
        self.levels = tuple(
            float(e) for e in np.arange(high, low - 1e-9, -cal.switch_elevation_step_deg)
        )
        self.cab_level = (seeding.uniform(seed, "lighting:photocell", keys)
                          * len(self.levels)).astype(np.int64)
        self.cab_shift = ((ctx.lon - np.array(lons)) * MS_PER_DEGREE_LONGITUDE).astype(np.int64)
        self.sun = SunTable(ctx.lon, ctx.lat, ctx.zone, self.levels)
        # Technology and nominal power: from the inventory, else drawn from the Nantes sample.
        tech, power = self._technology(lamps, lamp_urns, seed)
        self.tech = tech
        self.power_w = power
        gear = np.array([1 + LAMP_TECHNOLOGIES[TECH_CODES[t]].control_gear_loss for t in tech])
        self.load_w = power * gear
        self.telemanaged = np.array([LAMP_TECHNOLOGIES[TECH_CODES[t]].telemanaged for t in tech],
                                    dtype=bool)
        self.tele_idx = np.flatnonzero(self.telemanaged)
        # Failures: a lamp's age at the start is uniform within its relamping cycle.
        self.burn_ratio = cal.annual_burning_h.value / (365.25 * 24)
        shape = np.array([LAMP_TECHNOLOGIES[TECH_CODES[t]].weibull_shape for t in tech])
        scale = np.array([LAMP_TECHNOLOGIES[TECH_CODES[t]].weibull_scale_h for t in tech])
        cycle = np.array([LAMP_TECHNOLOGIES[TECH_CODES[t]].relamping_h for t in tech])
        self.weibull_shape, self.weibull_scale = shape, scale
        age = seeding.uniform(seed, "lighting:age", lamp_urns) * cycle
        u = seeding.uniform(seed, "lighting:life", lamp_urns)
        self.fail_at = ctx.start_ms + self._calendar_ms(self._remaining_h(age, u, slice(None)))
        self.failed = np.zeros(len(lamps), dtype=bool)
        self._status_known = False
        self.repair_at = np.full(len(lamps), NEVER, dtype=np.int64)
        # Cabinet trips (real cabinets only).
        self.trip_at = np.full(self.n_cab, NEVER, dtype=np.int64)
        self.reset_at = np.full(self.n_cab, NEVER, dtype=np.int64)
        # Working load per cabinet, and its dimmable (telemanaged) part.
        self.cab_load = np.bincount(lamp_cab, weights=self.load_w, minlength=self.n_cab)
        self.cab_dimmable = np.bincount(lamp_cab, weights=self.load_w * self.telemanaged,
                                        minlength=self.n_cab)
        self.cab_installed = np.maximum(self.cab_load, 1.0)
        order = np.argsort(lamp_cab, kind="stable")
        self.cab_lamps = np.split(order, np.cumsum(np.bincount(lamp_cab, minlength=self.n_cab))
                                  [:-1])
        self.nights: dict[int, _Night] = {}

    # --- static draws --------------------------------------------------------------------------

    @staticmethod
    def _technology(lamps: list[SimAsset], urns: list[str], seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Technology index and nominal power (W) per lamp: the inventory's where it gives
        them, else a draw from the Nantes sample (within the lamp's technology if known)."""
        sample = lamp_power_distribution()

        def cumulative(rows: list[tuple[str, float, int]]) -> tuple[np.ndarray, list[float]]:
            weights = np.cumsum([n for _t, _p, n in rows], dtype=np.float64)
            return weights / weights[-1], [p for _t, p, _n in rows]

        overall = cumulative(sample)
        per_tech = {
            code: cumulative([r for r in sample if r[0] == code])
            for code in {t for t, _p, _n in sample}
        }
        u = seeding.uniform(seed, "lighting:power", urns)
        tech = np.empty(len(lamps), dtype=np.int64)
        power = np.empty(len(lamps), dtype=np.float64)
        for i, a in enumerate(lamps):
            given_tech = a.properties.get("lamp_type")
            given_power = a.properties.get("power_w")
            code = given_tech if given_tech in LAMP_TECHNOLOGIES else None
            table = per_tech.get(code, overall) if code else overall
            pick = min(int(np.searchsorted(table[0], u[i])), len(table[1]) - 1)
            if isinstance(given_power, int | float) and given_power > 0:
                power[i] = float(given_power)
            else:
                power[i] = table[1][pick]
            if code is None:
                drawn = sample[min(int(np.searchsorted(overall[0], u[i])), len(sample) - 1)][0]
                code = drawn if drawn in LAMP_TECHNOLOGIES and not (
                    isinstance(given_power, int | float) and given_power > 0
                ) else DEFAULT_TECHNOLOGY
            tech[i] = TECH_CODES.index(code)
        return tech, power

    def _remaining_h(self, age_h: np.ndarray, u: np.ndarray, which: slice | np.ndarray
                     ) -> np.ndarray:
        """Burning hours left for lamps of this age (Weibull, conditional on survival)."""
        k = self.weibull_shape[which]
        eta = self.weibull_scale[which]
        total: np.ndarray = eta * ((age_h / eta) ** k - np.log(u)) ** (1 / k)
        left: np.ndarray = total - age_h
        return left

    def _calendar_ms(self, burning_h: np.ndarray) -> np.ndarray:
        return np.asarray(burning_h / self.burn_ratio * HOUR_MS, dtype=np.int64)

    # --- nights --------------------------------------------------------------------------------

    def _night(self, day: int) -> _Night:
        found = self.nights.get(day)
        if found is not None:
            return found
        sets, _ = self.sun.times(day)
        _, rises = self.sun.times(day + 1)
        cab_on = sets[self.cab_level] + self.cab_shift
        cab_off = rises[self.cab_level] + self.cab_shift
        gen = seeding.rng(self.ctx.seed, "lighting:night", day)
        n = len(self.lamp_cab)
        jitter = LIGHTING.lamp_switch_jitter_s * 1000
        on = cab_on[self.lamp_cab] + gen.integers(-jitter, jitter + 1, n)
        off = cab_off[self.lamp_cab] + gen.integers(-jitter, jitter + 1, n)
        d = date.fromordinal(day)
        dim_start = local_ms(self.ctx.zone, d, LIGHTING.dimming_start_local_h)
        dim_end = local_ms(self.ctx.zone, d, 24 + LIGHTING.dimming_end_local_h)
        tele = self.tele_idx
        dims = tele[(on[tele] < dim_start) & (dim_start < off[tele])]
        undims = tele[(on[tele] < dim_end) & (dim_end < off[tele])]
        lamps_all = np.arange(n)
        times = np.concatenate([on, np.full(len(dims), dim_start), np.full(len(undims), dim_end),
                                off])
        lamps = np.concatenate([lamps_all, dims, undims, lamps_all])
        codes = np.concatenate([np.full(n, ON), np.full(len(dims), DIM),
                                np.full(len(undims), UNDIM), np.full(n, OFF)])
        order = np.argsort(times, kind="stable")
        night = _Night(cab_on, cab_off, dim_start, dim_end, times[order], lamps[order],
                       codes[order])
        if len(self.nights) >= 4:
            for old in sorted(self.nights)[:-2]:
                del self.nights[old]
        self.nights[day] = night
        return night

    def _lit(self, cabs: np.ndarray, t: np.ndarray | int, day: int) -> np.ndarray:
        """Whether each cabinet's photocell has its lamps on at time ``t``."""
        out = np.zeros(len(cabs), dtype=bool)
        for d in (day - 1, day):
            n = self._night(d)
            out |= (n.cab_on[cabs] <= t) & (t < n.cab_off[cabs])
        return out

    def _level(self, t: np.ndarray, day: int) -> np.ndarray:
        level = np.ones(len(t))
        for d in (day - 1, day):
            n = self._night(d)
            level[(n.dim_start <= t) & (t < n.dim_end)] = LIGHTING.dimming_level.value
        return level

    def _tripped(self, cabs: np.ndarray, t: np.ndarray | int) -> np.ndarray:
        out: np.ndarray = (self.trip_at[cabs] <= t) & (t < self.reset_at[cabs])
        return out

    # --- one tick ------------------------------------------------------------------------------

    def step(self, tick: Tick, cond: Conditions, out: Emitter) -> None:
        gen = self.rng(tick)
        if not self._status_known:
            # Telemanagement reports each node's status when the stream starts, so that
            # availability counts the working lamps too, not only those that fail later.
            self._status_known = True
            for state, mask in (("ok", ~self.failed), ("defectiveLamp", self.failed)):
                if mask.any():
                    ids = self.lamp_gid[mask]
                    out.state(LAMP, "status", ids, np.full(len(ids), tick.start_ms), state)
        self._trips(tick, cond, gen, out)
        for day in (tick.day - 1, tick.day):
            self._events(day, tick, out)
        self._repairs(tick, gen, out)
        self._resets(tick, out)
        if self.n_real:
            self._meter(tick, out, gen)

    def _emit_lamps(self, out: Emitter, lamps: np.ndarray, t: np.ndarray, state: str | None,
                    level: np.ndarray | None) -> None:
        """powerState for ``lamps``, and power and level for the telemanaged among them."""
        if state is not None:
            out.state(LAMP, "powerState", self.lamp_gid[lamps], t, state)
        if level is None:
            return
        tele = self.telemanaged[lamps]
        if tele.any():
            lt, tt, lv = lamps[tele], t[tele], level[tele]
            out.number(LAMP, "illuminanceLevel", self.lamp_gid[lt], tt, lv, 2)
            power = self.power_w[lt] * lv * ~self.failed[lt]
            out.number(LAMP, "activePower", self.lamp_gid[lt], tt, power, 1)

    def _events(self, day: int, tick: Tick, out: Emitter) -> None:
        night = self._night(day)
        a, b = np.searchsorted(night.times, [tick.start_ms, tick.end_ms])
        if a == b:
            return
        times, lamps, codes = night.times[a:b], night.lamps[a:b], night.codes[a:b]
        live = ~self._tripped(self.lamp_cab[lamps], times)
        times, lamps, codes = times[live], lamps[live], codes[live]
        for code in (ON, DIM, UNDIM, OFF):
            sel = codes == code
            if not sel.any():
                continue
            lt, t = lamps[sel], times[sel]
            if code == ON:
                self._ignite(lt, t, tick, out)
                self._emit_lamps(out, lt, t, "on", self._level(t, tick.day))
            elif code == OFF:
                self._emit_lamps(out, lt, t, "off", np.zeros(len(lt)))
            else:
                level = LIGHTING.dimming_level.value if code == DIM else 1.0
                self._emit_lamps(out, lt, t, None, np.full(len(lt), level))
        cabs = np.arange(self.n_real)
        for times_c, state in ((night.cab_on, "on"), (night.cab_off, "off")):
            tc = times_c[: self.n_real]
            due = cabs[(tick.start_ms <= tc) & (tc < tick.end_ms)]
            due = due[~self._tripped(due, tc[due])]
            out.state(CABINET, "powerState", self.cab_gid[due], tc[due], state)

    def _ignite(self, lamps: np.ndarray, t: np.ndarray, tick: Tick, out: Emitter) -> None:
        """Lamps whose life is over fail when they are switched on."""
        dying = ~self.failed[lamps] & (self.fail_at[lamps] <= t)
        if not dying.any():
            return
        lf, tf = lamps[dying], t[dying]
        self.failed[lf] = True
        gen = seeding.rng(self.ctx.seed, "lighting:repair", tick.index)
        delay_h = seeding.lognormal_from_median(
            LIGHTING.repair_median_h.value, LIGHTING.repair_log_sd, gen.standard_normal(len(lf))
        )
        self.repair_at[lf] = tf + (delay_h * HOUR_MS).astype(np.int64)
        np.subtract.at(self.cab_load, self.lamp_cab[lf], self.load_w[lf])
        np.subtract.at(self.cab_dimmable, self.lamp_cab[lf], self.load_w[lf] * self.telemanaged[lf])
        out.state(LAMP, "status", self.lamp_gid[lf], tf, "defectiveLamp")

    def _repairs(self, tick: Tick, gen: np.random.Generator, out: Emitter) -> None:
        due = np.flatnonzero((self.repair_at >= tick.start_ms) & (self.repair_at < tick.end_ms))
        if len(due) == 0:
            return
        t = self.repair_at[due]
        self.failed[due] = False
        self.repair_at[due] = NEVER
        fresh = self._remaining_h(np.zeros(len(due)), gen.random(len(due)), due)
        self.fail_at[due] = t + self._calendar_ms(fresh)
        np.add.at(self.cab_load, self.lamp_cab[due], self.load_w[due])
        np.add.at(self.cab_dimmable, self.lamp_cab[due], self.load_w[due] * self.telemanaged[due])
        out.state(LAMP, "status", self.lamp_gid[due], t, "ok")
        lit = self._lit(self.lamp_cab[due], t, tick.day) & ~self._tripped(self.lamp_cab[due], t)
        if lit.any():
            self._emit_lamps(out, due[lit], t[lit], None, self._level(t[lit], tick.day))

    def _trips(self, tick: Tick, cond: Conditions, gen: np.random.Generator,
               out: Emitter) -> None:
        if not self.n_real:
            return
        cabs = np.arange(self.n_real)
        rate_per_tick = LIGHTING.cabinet_trips_per_year.value * TICK_MS / (365.25 * 24 * HOUR_MS)
        if cond.raining:
            rate_per_tick *= LIGHTING.trip_rain_factor
        draw = gen.random(self.n_real)
        candidates = cabs[(draw < rate_per_tick) & (self.reset_at[cabs] == NEVER)]
        if len(candidates) == 0:
            return
        t = tick.start_ms + (gen.random(len(candidates)) * TICK_MS).astype(np.int64)
        loaded = self._lit(candidates, t, tick.day)  # a breaker trips under load
        cabs_t, t = candidates[loaded], t[loaded]
        if len(cabs_t) == 0:
            return
        delay_h = seeding.lognormal_from_median(
            LIGHTING.cabinet_reset_median_h.value, LIGHTING.cabinet_reset_log_sd,
            gen.standard_normal(len(cabs_t)),
        )
        self.trip_at[cabs_t] = t
        self.reset_at[cabs_t] = t + (delay_h * HOUR_MS).astype(np.int64)
        out.state(CABINET, "powerState", self.cab_gid[cabs_t], t, "tripped")

    def _resets(self, tick: Tick, out: Emitter) -> None:
        due = np.flatnonzero((self.reset_at[: self.n_real] >= tick.start_ms)
                             & (self.reset_at[: self.n_real] < tick.end_ms))
        if len(due) == 0:
            return
        t = self.reset_at[due]
        self.trip_at[due] = NEVER
        self.reset_at[due] = NEVER
        lit = self._lit(due, t, tick.day)
        for state, mask in (("on", lit), ("off", ~lit)):
            out.state(CABINET, "powerState", self.cab_gid[due[mask]], t[mask], state)
        # The lamps come back with the state their photocell gives them now.
        for c, tc, on in zip(due.tolist(), t.tolist(), lit.tolist(), strict=True):
            lamps = self.cab_lamps[c]
            ts = np.full(len(lamps), tc, dtype=np.int64)
            level = self._level(ts, tick.day) if on else np.zeros(len(lamps))
            self._emit_lamps(out, lamps, ts, "on" if on else "off", level)

    def _meter(self, tick: Tick, out: Emitter, gen: np.random.Generator) -> None:
        cabs = np.arange(self.n_real)
        a, b = tick.start_ms, tick.end_ms
        full_ms = np.zeros(self.n_real)
        dim_ms = np.zeros(self.n_real)
        for d in (tick.day - 1, tick.day):
            night = self._night(d)
            start = np.maximum(night.cab_on[cabs], a)
            end = np.minimum(night.cab_off[cabs], b)
            lit = np.maximum(end - start, 0)
            dim = np.maximum(np.minimum(end, night.dim_end) - np.maximum(start, night.dim_start),
                             0)
            dim_ms += dim
            full_ms += lit - dim
        down = np.maximum(np.minimum(self.reset_at[cabs], b) - np.maximum(self.trip_at[cabs], a),
                          0)
        up = 1 - down / TICK_MS
        dimmed_load = self.cab_load[cabs] - self.cab_dimmable[cabs] * (
            1 - LIGHTING.dimming_level.value
        )
        energy_kwh = (self.cab_load[cabs] * full_ms + dimmed_load * dim_ms) * up / 3.6e9
        if every(tick, LIGHTING.energy_every_s):
            out.number(CABINET, "energyConsumed", self.cab_gid, b, energy_kwh, 4)
        if every(tick, LIGHTING.electrical_every_s):
            on_now = self._lit(cabs, b, tick.day) & ~self._tripped(cabs, b)
            dimmed_now = self._level(np.full(self.n_real, b), tick.day) < 1
            power_w = np.where(dimmed_now, dimmed_load, self.cab_load[cabs]) * on_now
            load_share = power_w / self.cab_installed[cabs]
            voltage = (LIGHTING.nominal_voltage_v.value
                       + gen.normal(0, LIGHTING.voltage_sd_v, self.n_real)
                       - LIGHTING.voltage_drop_at_full_load_v * load_share)
            out.number(CABINET, "activePower", self.cab_gid, b, power_w / 1000, 3)
            out.number(CABINET, "voltage", self.cab_gid, b, voltage, 1)
