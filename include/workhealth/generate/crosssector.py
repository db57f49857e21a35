"""The cross-sector registers: KPR primary-care contacts and NAV measure spells.

KPR contacts are drawn from the simulated lives of ``World`` (its state after each month's step,
and the month's sickness certificates) with a random stream of their own, so the other registers
are byte-identical with or without them. NAV measure spells are part of the simulated lives
(``World._select``: who starts one changes their return to work); here they are only written,
with re-deliveries of changed spells drawn from this stream. Parameters: ``calibration.py``; the
model: docs/synthetic_data.md. Vectorised like the simulation: loops run over services and code
groups, never over persons or rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workhealth.generate import calibration as P
from workhealth.generate.simulation import MEASURE_CODES, NONE, World, dates, hex16, ids, month_days, pick

SERVICES = ("GP", "EMERGENCY", "PHYSIO", "MENTAL_HEALTH", "HEALTHY_LIFE")
_GP, _EMERGENCY, _PHYSIO, _MENTAL, _HEALTHY = range(len(SERVICES))
_ICPC, _ICD = 0, 1
_MSK, _MENTAL_GRP = 0, 1
_RECENT_COURSE = 183  # days after a course during which it still counts (6 months)


def _flat(groups) -> tuple[np.ndarray, np.ndarray]:
    """Codes of several groups in one array, and the offsets of each group."""
    codes = np.array([c for g in groups for c in g])
    return codes, np.cumsum([0] + [len(g) for g in groups])


class CrossSector:
    """Writes the cross-sector registers of ``World``'s month."""

    def __init__(self, rng: np.random.Generator, world: World, measure_rng: np.random.Generator | None = None):
        self.rng, self.w = rng, world
        # re-deliveries of changed spells: a stream of their own, so KPR volumes leave them be
        self.measure_rng = measure_rng if measure_rng is not None else np.random.default_rng(0)
        self.counters = {"kpr": 0}
        self.bg_codes, self.bg_off = _flat([g[0] for g in P.ICPC2_BACKGROUND])
        self.bg_weight = np.array([g[1] for g in P.ICPC2_BACKGROUND], float)
        self.sick_codes, self.sick_off = _flat(P.ICPC2_CODES)
        self.icd_codes, self.icd_off = _flat(P.KPR_ICD10_CODES)

    def _next_ids(self, kind: str, n: int) -> np.ndarray:
        first = self.counters[kind]
        self.counters[kind] += n
        return np.arange(first + 1, first + n + 1, dtype=np.int64)

    # -- one month (after World.step) -------------------------------------------------------------
    def step(self, month: np.datetime64) -> dict[str, pa.Table]:
        w = self.w
        d0, d1 = month_days(month)
        year, mon = int(str(month)[:4]), int(str(month)[5:7])
        age_m = (year * 12 + mon) - (w.birth_year * 12 + w.birth_month)
        # only real persons: the untreated twins of the truth are never delivered
        adult = (w.death < 0) & (age_m >= 18 * 12) & (age_m < 67 * 12) & (w.shadow == 0)
        measures = self._measures()
        contacts = self._contacts(d0, d1, age_m, adult, w.month_certs)
        return {"nav_measures": measures, "kpr_contacts": contacts}

    # -- KPR ----------------------------------------------------------------------------------------
    def _contacts(self, d0, d1, age_m, adult, certs) -> pa.Table:
        rng, w, n = self.rng, self.w, self.w.n
        parts: list[tuple] = []  # (who, day, service, chapter-or-code source...)
        # GP contacts where the certificates are written: on or just before their start date
        cwho, cstart, csystem, cgroup, ccode = certs
        hit = rng.random(len(cwho)) < np.array(P.GP_AT_CERTIFICATE)[csystem]
        lag = np.array([x[0] for x in P.GP_CERT_LAG])[pick(rng, P.GP_CERT_LAG, len(cwho))]
        day = np.maximum(cstart - lag, d0)
        drawn = self._in_group(self.sick_codes, self.sick_off, cgroup.astype(np.int64))
        same = np.asarray(pc.fill_null(ccode, "").to_numpy(zero_copy_only=False), dtype=object)
        code = np.where((csystem == _ICPC) & (same != ""), same, drawn).astype(str)
        parts.append((cwho[hit], day[hit], np.full(int(hit.sum()), _GP), code[hit]))

        active = ((w.sick_start >= 0) | (w.aap_id >= 0) | w.c_on | w.m_on
                  | (w.c_seen >= d0 - _RECENT_COURSE))
        mental = adult & (w.grp == _MENTAL_GRP)
        benefit = (w.sick_start >= 0) | (w.aap_id >= 0) | (w.dis_id >= 0)
        age = age_m / 12.0
        women = np.where(w.sex == 2, 1.3, 1.0)
        known = active & (w.grp >= 0) & (w.grp <= 1)
        weights = {
            _GP: (1 + (age - 18) / 30) * women * np.where(benefit, 2.5, 1.0),
            _EMERGENCY: np.where(age < 30, 1.5, 1.0) * np.where(benefit, 1.5, 1.0),
            _PHYSIO: (1 + (age - 18) / 40) * np.where(active & (w.grp == _MSK), 6.0, 1.0),
            _MENTAL: np.where(age < 30, 2.0, 1.0) * women * np.where(mental, 5.0, 1.0),
            _HEALTHY: np.where(age >= 30, 1.5, 0.5),
        }
        for service, name in enumerate(SERVICES):
            k = int(rng.poisson(P.KPR_BACKGROUND_PER_MONTH[name] * w.scale))
            wt = np.where(adult, weights[service], 0.0)
            if not k or wt.sum() <= 0:
                continue
            who = rng.choice(n, k, p=wt / wt.sum())
            day = d0 + rng.integers(0, d1 - d0 + 1, k)
            if service == _HEALTHY:
                code = np.array(P.HEALTHY_LIFE_CODES)[rng.integers(0, len(P.HEALTHY_LIFE_CODES), k)]
            else:
                chapter = pick(rng, [(None, x) for x in self.bg_weight], k)
                if service == _PHYSIO:
                    chapter = np.where(rng.random(k) < 0.85, _MSK, chapter)
                elif service == _MENTAL:
                    chapter = np.full(k, _MENTAL_GRP)
                else:  # a person with a known MSK or mental problem consults for it half the time
                    own = known[who] & (rng.random(k) < 0.5)
                    chapter = np.where(own, w.grp[who], chapter)
                code = self._in_group(self.bg_codes, self.bg_off, chapter.astype(np.int64))
            parts.append((who, day, np.full(k, service), code))
        # municipal mental-health service for persons with a mental disorder (more after a course)
        after = ~w.c_on & (w.c_seen >= d0 - _RECENT_COURSE)
        p = np.where(mental & after, P.MENTAL_AFTER_COURSE_P,
                     np.where(mental & active, P.MENTAL_HEALTH_P[0],
                              np.where(mental & (w.dis_id >= 0), P.MENTAL_HEALTH_P[1], 0.0)))
        who = np.flatnonzero(rng.random(n) < p)
        who = np.repeat(who, rng.integers(1, 4, len(who)))
        day = d0 + rng.integers(0, d1 - d0 + 1, len(who))
        code = self._in_group(self.bg_codes, self.bg_off, np.full(len(who), _MENTAL_GRP))
        parts.append((who, day, np.full(len(who), _MENTAL), code))
        return self._contact_table(parts)

    def _in_group(self, codes: np.ndarray, off: np.ndarray, group: np.ndarray) -> np.ndarray:
        lo, hi = off[group], off[group + 1]
        return codes[lo + (self.rng.random(len(group)) * (hi - lo)).astype(np.int64)]

    def _contact_table(self, parts: list[tuple]) -> pa.Table:
        rng = self.rng
        who, day, service, code = (np.concatenate(x) for x in zip(*parts))
        k = len(who)
        code = code.astype(object)
        names = np.array(SERVICES)
        icd_share = np.array([P.KPR_ICD10_SHARE[s] for s in SERVICES])[service]
        missing = np.array([P.KPR_MISSING_DIAGNOSIS[s] for s in SERVICES])[service]
        system = np.where(rng.random(k) < icd_share, _ICD, _ICPC)
        # ICD-10 codes of the contact's group (by the ICPC-2 chapter drawn)
        first = code.astype("U1")  # the ICPC-2 chapter letter
        grp = np.where(first == "L", 0, np.where(first == "P", 1, 2))
        icd = self._in_group(self.icd_codes, self.icd_off, grp)
        code = np.where(system == _ICD, icd, code)
        # coding defects: invalid ICPC-2 codes, unknown services; and missing diagnoses
        bad = (system == _ICPC) & (rng.random(k) < P.KPR_INVALID_ICPC2)
        code = np.where(bad, np.array(P.INVALID_ICPC2)[rng.integers(0, len(P.INVALID_ICPC2), k)], code)
        none = rng.random(k) < missing
        service_s = names[service].astype(object)
        unknown = rng.random(k) < P.KPR_UNKNOWN_SERVICE
        service_s = np.where(unknown, np.array(P.UNKNOWN_SERVICES)[rng.integers(0, len(P.UNKNOWN_SERVICES), k)],
                             service_s)
        order = np.lexsort((service, who, day))
        code, system, none = code[order], system[order], none[order]
        return pa.table({
            "contact_id": ids("K", self._next_ids("kpr", k)),
            "person_id": hex16(self.w.uid[who[order]]),
            "contact_date": dates(day[order]),
            "service": pa.array(service_s[order].astype(str)),
            "diagnosis_system": pa.array(np.array(["ICPC2", "ICD10"])[system], mask=none),
            "diagnosis_code": pa.array(code.astype(str), mask=none),
        })

    # -- NAV measures ---------------------------------------------------------------------------------
    def _measures(self) -> pa.Table:
        """The month's spells as World started and ended them, and 2 % of open spells re-delivered
        unchanged; twins' spells never."""
        w = self.w
        open_ = np.flatnonzero(w.m_on & (w.shadow == 0))
        changed = open_[self.measure_rng.random(len(open_)) < P.MEASURE_CHANGED]
        events = w.measure_events + [(w.m_id[changed], changed, w.m_type[changed], w.m_start[changed],
                                      np.full(len(changed), NONE))]
        return self._measure_table(events)

    def _measure_table(self, events: list[tuple]) -> pa.Table:
        sid, who, mtype, start, end = (np.concatenate(x) for x in zip(*events))
        real = self.w.shadow[who] == 0
        sid, who, mtype, start, end = sid[real], who[real], mtype[real], start[real], end[real]
        # the newest state of each spell in the month wins
        _, last = np.unique(sid[::-1], return_index=True)
        keep = np.sort(len(sid) - 1 - last)
        sid, who, mtype, start, end = sid[keep], who[keep], mtype[keep], start[keep], end[keep]
        return pa.table({
            "spell_id": ids("T", sid),
            "person_id": hex16(self.w.uid[who]),
            "measure_type": pa.array(np.array(MEASURE_CODES)[mtype]) if len(sid) else pa.array([], pa.string()),
            "start_date": dates(start),
            "end_date": dates(end),
        })
