"""The synthetic population, simulated month by month with vectorised numpy.

State is one numpy array per attribute over all persons ever created (the cohort plus each
January's 18-year-olds); a month's step changes the state and returns that month's rows of the
five monthly registers as pyarrow tables. Nothing loops over persons or rows in Python: loops
run over months, over "rounds" (a certificate or episode chain advancing one link for every
person at once) and over the handful of code-list entries.

Days are int64 days since 1970-01-01 throughout; -1 means "none".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workhealth.core import codelists
from workhealth.generate import calibration as P

NONE = -1
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# small vectorised helpers
# ---------------------------------------------------------------------------------------------


def hex16(values: np.ndarray) -> pa.StringArray:
    """uint64 -> 16 lowercase hex characters, without a Python loop."""
    b = np.ascontiguousarray(values.astype(">u8")).view(np.uint8).reshape(-1, 8)
    chars = np.stack([_HEX[b >> 4], _HEX[b & 15]], axis=2).reshape(-1)
    n = len(values)
    offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _with_identity_number(values: np.ndarray) -> np.ndarray:
    """Indices of the uint64 values whose hex16 text holds an identity number: a vectorised
    pre-filter (some window of 11 decimal nibbles), then the one rule on those few."""
    from workhealth.core.identity import contains_identity_number

    b = np.ascontiguousarray(values.astype(">u8")).view(np.uint8).reshape(-1, 8)
    digit = (np.stack([b >> 4, b & 15], axis=2).reshape(-1, 16) < 10).astype(np.int8)
    runs = np.cumsum(np.pad(digit, ((0, 0), (1, 0))), axis=1)
    cand = np.flatnonzero(((runs[:, 11:] - runs[:, :-11]) == 11).any(axis=1))
    return np.array([i for i in cand if contains_identity_number(f"{int(values[i]):016x}")], dtype=np.int64)


def ids(prefix: str, numbers: np.ndarray, width: int = 10) -> pa.Array:
    """Stable ids such as ``E0000012345`` (a letter first: never an 11-digit number)."""
    s = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, s, "")


def dates(days: np.ndarray) -> pa.Array:
    """int days since epoch (NONE = missing) -> date32."""
    days = np.asarray(days, dtype=np.int64)
    return pa.array(days.astype(np.int32), pa.int32(), mask=days < 0).view(pa.date32())


def ints(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64(), mask=missing)


def pick(rng: np.random.Generator, options: tuple, n: int) -> np.ndarray:
    """Index into ``options`` of (value, weight) pairs."""
    w = np.array([o[1] for o in options], dtype=float)
    return rng.choice(len(options), size=n, p=w / w.sum())


def month_days(month: np.datetime64) -> tuple[int, int]:
    d0 = int(month.astype("datetime64[D]").astype(np.int64))
    d1 = int((month + 1).astype("datetime64[D]").astype(np.int64)) - 1
    return d0, d1


def day_of(iso: str) -> int:
    return int(np.datetime64(iso, "D").astype(np.int64))


def year_of(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def prob_round(rng: np.random.Generator, x: float) -> int:
    """Probabilistic rounding: floor(x) plus one with probability frac(x)."""
    f = int(np.floor(x))
    return f + int(rng.random() < x - f)


# ---------------------------------------------------------------------------------------------
# code lists
# ---------------------------------------------------------------------------------------------


@dataclass
class Codes:
    trusts: list[str]
    trust_rhf: list[str]
    counties: list[str]
    county_rhf: list[str]
    municipalities: pa.Array        # all municipality codes
    muni_county: np.ndarray         # county index of each municipality
    muni_weight: np.ndarray         # within-county weight
    icd10: pa.Array                 # ICD-10 categories
    icd10_weight: np.ndarray
    units: list[dict]               # work_units.csv rows
    bg_units: pa.Array              # background units, n_trusts * UNITS_PER_TRUST
    defect_rates: np.ndarray        # (n_trusts, n_coding_defects)


UNITS_PER_TRUST = 2 * len(P.DEPARTMENTS)


def load_codes() -> Codes:
    trusts = [r["health_trust"] for r in codelists.load("health_trusts")]
    trust_rhf = [r["rhf"] for r in codelists.load("health_trusts")]
    county_rows = codelists.load("counties")
    counties = [r["county"] for r in county_rows]
    county_rhf = [r["rhf"] for r in county_rows]
    munis, muni_county, muni_w = [], [], []
    for ci, c in enumerate(counties):
        n = P.MUNICIPALITIES.get(c, 10)
        for k in range(1, n + 1):
            munis.append(f"{c}{k:02d}")
            muni_county.append(ci)
            muni_w.append(1.0 / k)
    cats = codelists.load("icd10_categories")
    icd = [r["category"] for r in cats]
    w = np.array([P.ICD10_CHAPTER_WEIGHTS.get(r["chapter"], 1.0) for r in cats], dtype=float)
    bg_units = [f"{t}-{d}{k}" for t in trusts for d in P.DEPARTMENTS for k in (1, 2)]
    rates = np.array([P.TRUST_DEFECT_RATES.get(t, (0.05, 0.01, 0.005, 0.03, 0.005, 0.002, 0.002))
                      for t in trusts])
    return Codes(trusts, trust_rhf, counties, county_rhf, pa.array(munis), np.array(muni_county),
                 np.array(muni_w), pa.array(icd), w / w.sum(), list(codelists.load("work_units")),
                 pa.array(bg_units), rates)


# ---------------------------------------------------------------------------------------------
# the population
# ---------------------------------------------------------------------------------------------

#: per-person state: name -> (dtype, value for a new person)
FIELDS = {
    "uid": (np.uint64, 0), "birth_year": (np.int32, 0), "birth_month": (np.int32, 1), "sex": (np.int8, 1),
    "muni": (np.int32, 0), "county": (np.int32, 0), "death": (np.int64, NONE), "wage": (np.float64, 0.0),
    "emp1": (np.int64, NONE), "fte1": (np.float64, 0.0), "emp2": (np.int64, NONE), "fte2": (np.float64, 0.0),
    "hire_at": (np.int64, NONE),
    # sick-leave case
    "sick_start": (np.int64, NONE), "sick_end": (np.int64, NONE), "sick_next": (np.int64, NONE),
    "sick_exit_aap": (np.bool_, False), "sick_group": (np.int8, 0), "sick_system": (np.int8, 0),
    "sick_code": (np.int32, 0), "sick_grade": (np.int32, 100),
    # AAP
    "aap_id": (np.int64, NONE), "aap_start": (np.int64, NONE), "aap_end": (np.int64, NONE),
    "aap_exit": (np.int8, 0),
    # disability
    "dis_id": (np.int64, NONE), "dis_start": (np.int64, NONE), "dis_grade": (np.int32, 0),
    # work-related treatment course
    "c_on": (np.bool_, False), "c_trust": (np.int32, 0), "c_unit": (np.int32, 0), "c_left": (np.int32, 0),
    "c_next_start": (np.int64, NONE), "c_next_end": (np.int64, NONE), "c_next_care": (np.int32, 3),
    "c_ref": (np.int64, NONE), "c_code": (np.int64, 0), "c_first": (np.bool_, True),
}


class World:
    def __init__(self, rng: np.random.Generator, scale: float, start: np.datetime64, codes: Codes):
        self.rng, self.scale, self.codes = rng, scale, codes
        self.n = 0
        for name, (dtype, _) in FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        self.counters = {"cert": 0, "ep": 0, "aap": 0, "dis": 0}
        self.n_employers = max(50, round(P.EMPLOYERS * scale))
        self.employer_ids = pc.binary_join_element_wise(
            "E", pc.utf8_slice_codeunits(hex16(rng.integers(0, 2**63, self.n_employers, dtype=np.uint64)), 6, 16), "")
        self._course_codes = pa.array([c for g in P.ICD10_COURSE_CODES for c in g])
        self._course_code_group = np.array([gi for gi, g in enumerate(P.ICD10_COURSE_CODES) for _ in g])
        self._course_code_offsets = np.cumsum([0] + [len(g) for g in P.ICD10_COURSE_CODES])
        self._sick_codes = [pa.array([c for g in P.ICPC2_CODES for c in g]),
                            pa.array([c for g in P.ICD10_SICK_CODES for c in g])]
        self._sick_offsets = [np.cumsum([0] + [len(g) for g in P.ICPC2_CODES]),
                              np.cumsum([0] + [len(g) for g in P.ICD10_SICK_CODES])]
        self._setup_trust_tables()
        self.aap_events: list[tuple] = []
        self.dis_events: list[tuple] = []
        self.prev_snapshot = NONE
        self.opening_balance = True
        d0, _ = month_days(start)
        self._init_cohort(start, d0)

    # -- set-up ---------------------------------------------------------------------------
    def _setup_trust_tables(self):
        c = self.codes
        t = {name: i for i, name in enumerate(c.trusts)}
        self.trust_index = t
        k = max(len(v) for v in P.COUNTY_TRUSTS.values())
        self.county_trusts = np.zeros((len(c.counties), k), dtype=np.int64)
        self.county_trust_p = np.zeros((len(c.counties), k))
        for ci, county in enumerate(c.counties):
            ts = P.COUNTY_TRUSTS[county]
            for j in range(k):
                self.county_trusts[ci, j] = t[ts[min(j, len(ts) - 1)]]
            w = np.array([0.7] + [0.3 / (len(ts) - 1)] * (len(ts) - 1)) if len(ts) > 1 else np.array([1.0])
            self.county_trust_p[ci, : len(ts)] = w
        self.public_trusts = np.array([i for i, name in enumerate(c.trusts) if not name.startswith("PRIV_")])
        self.county_course_trust = np.array([t[P.COUNTY_COURSE_TRUST[cc]] for cc in c.counties])
        self.county_priv_trust = np.array([t[f"PRIV_{c.county_rhf[ci]}"] for ci in range(len(c.counties))])
        # work units per trust and kind
        self.unit_ids = pa.array([u["unit_id"] for u in c.units])
        self.unit_trust = np.array([t[u["health_trust"]] for u in c.units])
        self.unit_kind = np.array([u["unit_id"].rsplit("-", 1)[1] for u in c.units])  # HOA1 HOA2 ARR1 ARR2
        self.unit_from = np.array([day_of(u["valid_from"]) for u in c.units])
        self.unit_to = np.array([day_of(u["valid_to"]) if u["valid_to"] else 10**6 for u in c.units])
        self.trust_unit = {kind: np.full(len(c.trusts), -1) for kind in ("HOA1", "HOA2", "ARR1", "ARR2")}
        for ui, (ti, kind) in enumerate(zip(self.unit_trust, self.unit_kind)):
            self.trust_unit[kind][ti] = ui

    def _grow(self, n: int) -> np.ndarray:
        for name, (dtype, default) in FIELDS.items():
            setattr(self, name, np.concatenate([getattr(self, name), np.full(n, default, dtype=dtype)]))
        new = np.arange(self.n, self.n + n)
        self.n += n
        rng = self.rng
        uid = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        self.uid[new] = uid
        self._dedupe_uids(new)
        self.sex[new] = rng.integers(1, 3, n)
        self.birth_month[new] = rng.integers(1, 13, n)
        cw = np.array([P.COUNTY_WEIGHTS.get(c, 0.01) for c in self.codes.counties])
        self.county[new] = rng.choice(len(cw), n, p=cw / cw.sum())
        self.muni[new] = self._draw_municipality(self.county[new])
        self.wage[new] = P.WAGE_2016 * np.exp(rng.normal(0, 0.3, n)) * np.where(self.sex[new] == 1, 1.08, 0.94)
        return new

    def _dedupe_uids(self, new: np.ndarray):
        """Unique uids, and none of the ``new`` ones (or their redraws) with a 16-hex person_id
        holding a national identity number under the ingestion rule (an 11-digit run that checks
        out: about 5 per million random ids, and one refuses a whole delivery as a privacy
        breach). Only redraws draw from the rng, so other seeds' output is unchanged."""
        check = new
        while True:
            _, first = np.unique(self.uid, return_index=True)
            redraw = np.union1d(np.setdiff1d(np.arange(self.n), first), check[_with_identity_number(self.uid[check])])
            if len(redraw) == 0:
                return
            self.uid[redraw] = self.rng.integers(0, 2**64 - 1, len(redraw), dtype=np.uint64, endpoint=True)
            check = redraw

    def _draw_municipality(self, county: np.ndarray) -> np.ndarray:
        c = self.codes
        out = np.zeros(len(county), dtype=np.int64)
        for ci in np.unique(county):  # per county: a handful of iterations
            sel = np.flatnonzero(county == ci)
            m = np.flatnonzero(c.muni_county == ci)
            w = c.muni_weight[m]
            out[sel] = m[self.rng.choice(len(m), len(sel), p=w / w.sum())]
        return out

    def _init_cohort(self, start: np.datetime64, d0: int):
        rng = self.rng
        n = max(1, round(P.COHORT * self.scale))
        new = self._grow(n)
        year = int(str(start)[:4])
        age = rng.integers(18, 67, n)
        self.birth_year[new] = year - age
        # disability stock, rising steeply with age
        w = np.exp(0.07 * (age - 18))
        p_dis = np.minimum(0.6, P.INIT_DISABILITY_SHARE * w / w.mean())
        dis = new[rng.random(n) < p_dis]
        self._new_disability(dis, d0 - rng.integers(30, 3650, len(dis)), event=False)
        # AAP stock among the others aged 20-64
        elig = new[(self.dis_id[new] < 0) & (age >= 20) & (age <= 64)]
        aap = elig[rng.random(len(elig)) < P.INIT_AAP_SHARE * n / max(1, len(elig))]
        self._new_aap(aap, d0 - rng.integers(30, 1400, len(aap)), event=False,
                      end=d0 + rng.integers(1, 48 * 30, len(aap)))
        # employment
        p_emp = np.select([age < 20, age < 25, age < 55, age < 62], [0.45, 0.70, 0.86, 0.78], 0.50)
        p_emp = np.where(self.aap_id[new] >= 0, 0.3, p_emp)
        p_emp = np.where(self.dis_id[new] >= 0, np.where(self.dis_grade[new] < 100, 0.5, 0.0), p_emp)
        emp = new[rng.random(n) < p_emp]
        self._hire(emp)
        # ongoing sick-leave cases
        elig = emp[(self.aap_id[emp] < 0) & (self.dis_id[emp] < 0)]
        sick = elig[rng.random(len(elig)) < P.INIT_SICK_SHARE]
        elapsed = (330 * rng.random(len(sick)) ** 2).astype(np.int64) + 1
        self._new_case(sick, d0 - elapsed)
        remaining = rng.integers(0, np.maximum(1, 364 - elapsed))
        self.sick_end[sick] = np.maximum(d0, self.sick_start[sick] + np.minimum(elapsed + remaining, 363))
        self.sick_exit_aap[sick] = (self.sick_end[sick] - self.sick_start[sick] >= 360) & (
            rng.random(len(sick)) < P.SICK_LONG_TO_AAP)
        self.sick_next[sick] = np.minimum(d0 + rng.integers(0, 15, len(sick)), self.sick_end[sick])

    # -- state changes ------------------------------------------------------------------------
    def _next_ids(self, kind: str, n: int) -> np.ndarray:
        first = self.counters[kind]
        self.counters[kind] += n
        return np.arange(first + 1, first + n + 1, dtype=np.int64)

    def _draw_employer(self, n: int) -> np.ndarray:
        return (self.n_employers * self.rng.random(n) ** 2.5).astype(np.int64)

    def _draw_fte(self, n: int) -> np.ndarray:
        rng = self.rng
        u = rng.random(n)
        fte = np.where(u < 0.62, 100.0, np.where(u < 0.82, rng.uniform(50, 95, n), rng.uniform(10, 49.9, n)))
        return np.round(fte, 1)

    def _hire(self, who: np.ndarray):
        rng = self.rng
        who = who[self.emp1[who] < 0]
        self.emp1[who] = self._draw_employer(len(who))
        self.fte1[who] = self._draw_fte(len(who))
        partial = who[(self.dis_id[who] >= 0)]
        self.fte1[partial] = np.minimum(self.fte1[partial], 100 - self.dis_grade[partial])
        two = who[rng.random(len(who)) < 0.18]
        self._add_second_job(two)
        self.hire_at[who] = NONE

    def _add_second_job(self, who: np.ndarray):
        rng = self.rng
        e = self._draw_employer(len(who))
        e = np.where(e == self.emp1[who], (e + 1) % self.n_employers, e)
        self.emp2[who] = e
        self.fte2[who] = np.where(rng.random(len(who)) < 0.05, 0.0, np.round(rng.uniform(5, 40, len(who)), 1))

    def _fire(self, who: np.ndarray):
        self.emp1[who] = NONE
        self.emp2[who] = NONE
        self.fte1[who] = 0.0
        self.fte2[who] = 0.0

    def _new_case(self, who: np.ndarray, start: np.ndarray, group: np.ndarray | None = None):
        rng = self.rng
        n = len(who)
        self.sick_start[who] = start
        self.sick_next[who] = start
        cls = pick(rng, [(None, c[0]) for c in P.SICK_DURATION_CLASSES], n)
        lo = np.array([c[1] for c in P.SICK_DURATION_CLASSES])[cls]
        hi = np.array([c[2] for c in P.SICK_DURATION_CLASSES])[cls]
        dur = rng.integers(lo, hi + 1)
        self.sick_end[who] = start + dur - 1
        self.sick_exit_aap[who] = (dur >= 364) & (rng.random(n) < P.SICK_LONG_TO_AAP)
        if group is None:
            group = pick(rng, [(None, s) for s in P.SICK_GROUP_SHARES], n)
        self.sick_group[who] = group
        system = (rng.random(n) < P.SICK_ICD10_SHARE).astype(np.int8)
        self.sick_system[who] = system
        code = np.zeros(n, dtype=np.int64)
        for s in (0, 1):
            off = self._sick_offsets[s]
            sel = system == s
            lo_, hi_ = off[group[sel]], off[group[sel] + 1]
            code[sel] = lo_ + (rng.random(sel.sum()) * (hi_ - lo_)).astype(np.int64)
        self.sick_code[who] = code
        self.sick_grade[who] = self._draw_grade(n)

    def _draw_grade(self, n: int) -> np.ndarray:
        rng = self.rng
        return np.where(rng.random(n) < P.SICK_GRADED, rng.choice([20, 40, 50, 60, 80], n), 100)

    def _new_aap(self, who: np.ndarray, start: np.ndarray, event: bool = True, end: np.ndarray | None = None):
        rng = self.rng
        n = len(who)
        self.aap_id[who] = self._next_ids("aap", n)
        self.aap_start[who] = start
        if end is None:
            end = start + (rng.integers(P.AAP_MONTHS[0], P.AAP_MONTHS[1] + 1, n) * 30.44).astype(np.int64)
        self.aap_end[who] = end
        self.aap_exit[who] = pick(rng, [(None, s) for s in P.AAP_EXIT], n)
        if event:
            self.aap_events.append((self.aap_id[who].copy(), who.copy(), start.copy(), np.full(n, NONE)))

    def _end_aap(self, who: np.ndarray, end: np.ndarray):
        self.aap_events.append((self.aap_id[who].copy(), who.copy(), self.aap_start[who].copy(), end.copy()))
        self.aap_id[who] = NONE
        self.aap_start[who] = NONE
        self.aap_end[who] = NONE

    def _new_disability(self, who: np.ndarray, start: np.ndarray, event: bool = True):
        rng = self.rng
        n = len(who)
        self.dis_id[who] = self._next_ids("dis", n)
        self.dis_start[who] = start
        grade = np.where(rng.random(n) < P.DIS_FULL, 100, rng.choice([30, 40, 50, 60, 70, 80, 90], n))
        self.dis_grade[who] = grade
        full = who[grade == 100]
        self._fire(full)
        part = who[grade < 100]
        self.fte1[part] = np.minimum(self.fte1[part], 100 - self.dis_grade[part])
        self.emp2[part] = NONE
        if event:
            self._dis_event(who, np.full(n, NONE))

    def _dis_event(self, who: np.ndarray, end: np.ndarray):
        self.dis_events.append((self.dis_id[who].copy(), who.copy(), self.dis_start[who].copy(), end.copy(),
                                self.dis_grade[who].copy()))

    def _end_disability(self, who: np.ndarray, end: np.ndarray):
        self._dis_event(who, end)
        self.dis_id[who] = NONE
        self.dis_start[who] = NONE

    # -- population snapshot --------------------------------------------------------------------
    def snapshot(self, month: np.datetime64, first: bool) -> pa.Table:
        rng = self.rng
        d0, _ = month_days(month)
        year = int(str(month)[:4])
        if not first and str(month).endswith("-01"):
            new = self._grow(prob_round(rng, P.NEW_18_PER_YEAR * self.scale))
            self.birth_year[new] = year - 18
        if not first:
            movers = np.flatnonzero((self.death < 0) & (rng.random(self.n) < P.MOVE_PER_YEAR))
            self.muni[movers] = self._draw_municipality(self.county[movers])
        keep = (self.death < 0) | (self.death >= self.prev_snapshot)
        idx = np.flatnonzero(keep)
        self.prev_snapshot = d0
        return pa.table({
            "person_id": hex16(self.uid[idx]),
            "birth_year": ints(self.birth_year[idx]),
            "sex": ints(self.sex[idx]),
            "municipality": self.codes.municipalities.take(pa.array(self.muni[idx])),
            "death_date": dates(self.death[idx]),
        })

    # -- one month ----------------------------------------------------------------------------
    def step(self, month: np.datetime64) -> dict[str, pa.Table]:
        d0, d1 = month_days(month)
        year, mon = int(str(month)[:4]), int(str(month)[5:7])
        self.aap_events, self.dis_events = [], []
        if self.opening_balance:
            # The first delivery carries every decision in force (an opening balance); later ones
            # only the decisions created or changed in their month.
            self.opening_balance = False
            a = np.flatnonzero(self.aap_id >= 0)
            self.aap_events.append((self.aap_id[a].copy(), a, self.aap_start[a].copy(), np.full(len(a), NONE)))
            self._dis_event(np.flatnonzero(self.dis_id >= 0), np.full(int((self.dis_id >= 0).sum()), NONE))
        age_m = (year * 12 + mon) - (self.birth_year * 12 + self.birth_month)
        alive = self.death < 0
        adult = alive & (age_m >= 18 * 12) & (age_m < 67 * 12)
        self._deaths(d0, d1, age_m, alive)
        self._retirement(d1, age_m)
        adult &= self.death < 0
        self._benefits(d0, d1, adult, age_m)
        self._employment(d0, d1, adult, age_m)
        self._sick_leave_inflow(d0, d1, adult)
        self._course_inflow(d0, d1, year, adult, age_m)
        sickleave = self._certificates(d0, d1)
        episodes = self._npr(d0, d1, adult, age_m)
        employment = self._employment_rows(month, year)
        # the dead and the retired leave their jobs after their last month's report
        gone = np.flatnonzero((self.death >= 0) | (age_m >= 67 * 12))
        self._fire(gone[self.emp1[gone] >= 0])
        return {
            "npr_episodes": episodes,
            "nav_sickleave": sickleave,
            "nav_aap": self._decision_table(self.aap_events, with_grade=False),
            "nav_disability": self._decision_table(self.dis_events, with_grade=True),
            "aareg_employment": employment,
        }

    def _deaths(self, d0, d1, age_m, alive):
        rng = self.rng
        age = age_m / 12.0
        annual = P.MORTALITY_A * np.exp(P.MORTALITY_B * (np.maximum(age, 18) - 18))
        annual = np.where(self.dis_id >= 0, annual * 3, annual)
        dies = np.flatnonzero(alive & (rng.random(self.n) < annual / 12))
        day = d0 + rng.integers(0, d1 - d0 + 1, len(dies))
        self.death[dies] = day
        s = dies[self.sick_start[dies] >= 0]
        self.sick_end[s] = np.minimum(self.sick_end[s], self.death[s])
        self.sick_exit_aap[s] = False
        a = dies[self.aap_id[dies] >= 0]
        self._end_aap(a, np.maximum(self.death[a], self.aap_start[a]))
        u = dies[self.dis_id[dies] >= 0]
        self._end_disability(u, np.maximum(self.death[u], self.dis_start[u]))
        self.c_on[dies] = False
        self.hire_at[dies] = NONE

    def _retirement(self, d1, age_m):
        """At 67 (the birth month) AAP and disability end, sick leave stops; jobs end after the month."""
        r = np.flatnonzero((age_m == 67 * 12) & (self.death < 0))
        a = r[self.aap_id[r] >= 0]
        self._end_aap(a, np.maximum(np.full(len(a), d1), self.aap_start[a]))
        u = r[self.dis_id[r] >= 0]
        self._end_disability(u, np.maximum(np.full(len(u), d1), self.dis_start[u]))
        s = r[self.sick_start[r] >= 0]
        self.sick_end[s] = np.minimum(self.sick_end[s], d1)
        self.sick_exit_aap[s] = False
        self.c_on[r] = False
        self.hire_at[r] = NONE

    def _benefits(self, d0, d1, adult, age_m):
        rng = self.rng
        n = self.n
        # AAP decisions ending this month
        ending = np.flatnonzero((self.aap_id >= 0) & (self.aap_end <= d1))
        end = self.aap_end[ending].copy()
        exit_ = self.aap_exit[ending].copy()
        self._end_aap(ending, end)
        back = ending[(exit_ == 0) & adult[ending]]
        self.hire_at[back] = end[(exit_ == 0) & adult[ending]] + rng.integers(0, 61, len(back))
        to_dis = (exit_ == 1) & adult[ending] & (self.dis_id[ending] < 0)
        self._new_disability(ending[to_dis], end[to_dis] + 1)
        # reassessed (changed) ongoing decisions: re-delivered as they stand
        on = np.flatnonzero((self.aap_id >= 0) & (rng.random(n) < P.AAP_REASSESS))
        self.aap_events.append((self.aap_id[on].copy(), on, self.aap_start[on].copy(), np.full(len(on), NONE)))
        # direct inflow among the non-employed without benefits
        free = adult & (self.emp1 < 0) & (self.aap_id < 0) & (self.dis_id < 0) & (self.sick_start < 0)
        new = np.flatnonzero(free & (rng.random(n) < P.AAP_DIRECT) & (age_m >= 19 * 12))
        self._new_aap(new, d0 + rng.integers(0, d1 - d0 + 1, len(new)))
        free[new] = False
        new = np.flatnonzero(free & (age_m >= 35 * 12) & (rng.random(n) < P.DIS_DIRECT))
        self._new_disability(new, d0 + rng.integers(0, d1 - d0 + 1, len(new)))
        # disability grade changes
        ch = np.flatnonzero((self.dis_id >= 0) & (rng.random(n) < P.DIS_GRADE_CHANGE))
        self.dis_grade[ch] = np.clip(self.dis_grade[ch] + rng.choice([-20, -10, 10, 20], len(ch)), 30, 100)
        self._dis_event(ch, np.full(len(ch), NONE))

    def _employment(self, d0, d1, adult, age_m):
        rng = self.rng
        n = self.n
        u = rng.random(n)
        pending = np.flatnonzero(adult & (self.hire_at >= 0) & (self.hire_at <= d1))
        self._hire(pending)
        busy = (self.sick_start >= 0) | self.c_on
        has = adult & (self.emp1 >= 0)
        self._fire(np.flatnonzero(has & ~busy & (u < P.JOB_LOSS)))
        p_hire = np.select([age_m < 25 * 12, age_m < 62 * 12], [0.025, P.JOB_HIRE], 0.01)
        free = adult & (self.emp1 < 0) & (self.aap_id < 0) & ((self.dis_id < 0) | (self.dis_grade < 100))
        self._hire(np.flatnonzero(free & (u < p_hire)))
        has = adult & (self.emp1 >= 0)
        u = rng.random(n)
        change = np.flatnonzero(has & ~busy & (u < P.JOB_CHANGE))
        self.emp1[change] = self._draw_employer(len(change))
        self.emp2[change] = np.where(self.emp2[change] == self.emp1[change], NONE, self.emp2[change])
        add = np.flatnonzero(has & (self.emp2 < 0) & (self.dis_id < 0) & (u > 1 - P.SECOND_JOB_ADD))
        self._add_second_job(add)
        u = rng.random(n)
        drop = np.flatnonzero(has & (self.emp2 >= 0) & (u < P.SECOND_JOB_DROP))
        self.emp2[drop] = NONE
        fte = np.flatnonzero(has & (u > 1 - P.FTE_CHANGE))
        self.fte1[fte] = self._draw_fte(len(fte))
        part = fte[self.dis_id[fte] >= 0]
        self.fte1[part] = np.minimum(self.fte1[part], 100 - self.dis_grade[part])

    def _sick_leave_inflow(self, d0, d1, adult):
        rng = self.rng
        p = P.SICK_NEW_CASE * np.where(self.sex == 2, P.SICK_WOMEN_FACTOR, 1.0)
        elig = adult & (self.emp1 >= 0) & (self.sick_start < 0) & (self.aap_id < 0) & (self.dis_id < 0)
        new = np.flatnonzero(elig & (rng.random(self.n) < p))
        self._new_case(new, d0 + rng.integers(0, d1 - d0 + 1, len(new)))

    # -- work-related treatment courses ---------------------------------------------------------------
    def _course_inflow(self, d0, d1, year, adult, age_m):
        rng = self.rng
        k = max(P.COURSES_MIN_PER_MONTH, int(rng.poisson(P.COURSES_PER_MONTH * self.scale)))
        n_sick = int(rng.binomial(k, P.COURSE_ON_SICK_LEAVE))
        ok_age = adult & (age_m >= 20 * 12) & (age_m < 65 * 12) & ~self.c_on
        # patients on sick leave: chosen around a target sick-leave duration that grows by year
        cand = np.flatnonzero(ok_age & (self.sick_start >= 0))
        cs = d0 + rng.integers(0, d1 - d0 + 1, len(cand))
        okc = (self.sick_start[cand] < cs) & (self.sick_end[cand] >= cs) & (self.sick_next[cand] > cs - 40)
        cand, cs = cand[okc], cs[okc]
        target = min(P.SICK_DAYS_CAP, P.SICK_DAYS_2016 * P.SICK_DAYS_GROWTH ** (year - 2016))
        sd = (cs - self.sick_start[cand]).astype(float)
        w = np.exp(-0.5 * ((np.log(sd) - np.log(target)) / 0.5) ** 2)
        w *= np.array([1.0, 1.0, 0.12])[self.sick_group[cand]]
        m = min(n_sick, int((w > 0).sum()))
        chosen = rng.choice(len(cand), m, replace=False, p=w / w.sum()) if m else np.zeros(0, dtype=np.int64)
        sick_p, sick_cs = cand[chosen], cs[chosen]
        # patients not on sick leave: mostly on AAP or out of work
        free = np.flatnonzero(ok_age & (self.sick_start < 0) & ((self.dis_id < 0) | (self.dis_grade < 100)))
        w = np.where(self.aap_id[free] >= 0, 6.0, np.where(self.emp1[free] < 0, 1.5, 0.3))
        m = min(k - len(sick_p), len(free))
        other = free[rng.choice(len(free), m, replace=False, p=w / w.sum())] if m else np.zeros(0, np.int64)
        other_cs = d0 + rng.integers(0, d1 - d0 + 1, len(other))
        who = np.concatenate([sick_p, other])
        cs = np.concatenate([sick_cs, other_cs])
        if not len(who):
            return
        group = np.concatenate([self.sick_group[sick_p],
                                pick(rng, [(None, s) for s in P.COURSE_GROUP_SHARES], len(other))]).astype(np.int64)
        off = self._course_code_offsets
        self.c_code[who] = off[group] + (rng.random(len(who)) * (off[group + 1] - off[group])).astype(np.int64)
        # trust and unit
        county = self.county[who]
        priv = rng.random(len(who)) < P.COURSE_PRIVATE
        trust = np.where(priv, self.county_priv_trust[county], self.county_course_trust[county])
        hoa1, hoa2 = self.trust_unit["HOA1"][trust], self.trust_unit["HOA2"][trust]
        arr1, arr2 = self.trust_unit["ARR1"][trust], self.trust_unit["ARR2"][trust]
        psych_ok = (hoa2 >= 0) & (self.unit_from[np.maximum(hoa2, 0)] <= cs) & (group == 1)
        unit = np.where(psych_ok & (rng.random(len(who)) < 0.7), hoa2, hoa1)
        arr2_ok = (arr2 >= 0) & (self.unit_to[np.maximum(arr2, 0)] >= cs + 365)
        unit = np.where(priv, np.where(arr2_ok & (rng.random(len(who)) < 0.4), arr2, arr1), unit)
        self.c_on[who] = True
        self.c_trust[who] = trust
        self.c_unit[who] = unit
        self.c_left[who] = 1 + pick(rng, [(None, s) for s in P.COURSE_EPISODES], len(who))
        self.c_ref[who] = cs - rng.integers(14, 101, len(who))
        self.c_first[who] = True
        care = self._episode_care(unit, np.ones(len(who), bool))
        self.c_next_care[who] = care
        self.c_next_start[who] = cs
        self.c_next_end[who] = cs + self._episode_los(care, np.ones(len(who), bool))
        # outcome: return to work depends on diagnosis group, sick-leave days at start and care level
        sd = np.concatenate([sick_cs - self.sick_start[sick_p], np.zeros(len(other))])
        worst = np.where(self.unit_kind[unit] == "ARR1", 1, np.where(self.unit_kind[unit] == "ARR2", 2, care))
        p_rtw = (np.array(P.RTW_BASE)[group] - P.RTW_SICK_PENALTY * np.minimum(sd, 365) / 365
                 - np.select([worst == 1, worst == 2], [P.RTW_CARE_PENALTY[1], P.RTW_CARE_PENALTY[2]], 0.0))
        rtw = rng.random(len(who)) < p_rtw
        ns = len(sick_p)
        s_rtw, s_no = sick_p[rtw[:ns]], sick_p[~rtw[:ns]]
        new_end = np.minimum(sick_cs[rtw[:ns]] + rng.integers(14, 101, len(s_rtw)), self.sick_start[s_rtw] + 363)
        self.sick_end[s_rtw] = np.maximum(new_end, self.sick_next[s_rtw] - 1)
        self.sick_exit_aap[s_rtw] = False
        self.sick_end[s_no] = np.maximum(self.sick_start[s_no] + 363, sick_cs[~rtw[:ns]] + 60)
        self.sick_exit_aap[s_no] = True
        o_rtw = other[rtw[ns:] & (rng.random(len(other)) < 0.6)]
        on_aap = o_rtw[self.aap_id[o_rtw] >= 0]
        back = other_cs[np.isin(other, o_rtw)]
        self.aap_end[on_aap] = np.maximum(self.aap_start[on_aap], other_cs[np.isin(other, on_aap)]
                                          + rng.integers(60, 241, len(on_aap)))
        self.aap_exit[on_aap] = 0
        no_job = o_rtw[(self.aap_id[o_rtw] < 0) & (self.emp1[o_rtw] < 0)]
        self.hire_at[no_job] = back[np.isin(o_rtw, no_job)] + rng.integers(30, 201, len(no_job))

    def _episode_care(self, unit: np.ndarray, first: np.ndarray) -> np.ndarray:
        rng = self.rng
        kind = self.unit_kind[unit]
        u = rng.random(len(unit))
        return np.select(
            [kind == "HOA1", kind == "HOA2", kind == "ARR1", kind == "ARR2"],
            [np.where(u < 0.85, 3, 2), np.where(u < 0.95, 3, 2), np.where(first | (u < 0.5), 1, 3), np.full(len(u), 2)],
            3,
        )

    def _episode_los(self, care: np.ndarray, first: np.ndarray) -> np.ndarray:
        rng = self.rng
        n = len(care)
        los = np.where(first, rng.integers(14, 29, n), rng.integers(5, 11, n))
        return np.where(care == 1, los, 0)

    def _course_episodes(self, d0, d1) -> dict:
        rng = self.rng
        out = []
        who = np.flatnonzero(self.c_on & (self.c_next_end <= d1))
        while len(who):
            start, end = self.c_next_start[who].copy(), self.c_next_end[who].copy()
            care, first = self.c_next_care[who].copy(), self.c_first[who].copy()
            out.append((who.copy(), start, end, care, first))
            self.c_left[who] -= 1
            self.c_first[who] = False
            done = self.c_left[who] <= 0
            self.c_on[who[done]] = False
            more = who[~done]
            cls = pick(rng, [(None, g[0]) for g in P.COURSE_GAPS], len(more))
            gap = rng.integers(np.array([g[1] for g in P.COURSE_GAPS])[cls], np.array([g[2] for g in P.COURSE_GAPS])[cls] + 1)
            care = self._episode_care(self.c_unit[more], np.zeros(len(more), bool))
            self.c_next_care[more] = care
            self.c_next_start[more] = self.c_next_end[more] + gap
            self.c_next_end[more] = self.c_next_start[more] + self._episode_los(care, np.zeros(len(more), bool))
            who = more[self.c_next_end[more] <= d1]
        if not out:
            return {}
        who, start, end, care, first = (np.concatenate(x) for x in zip(*out))
        return {"who": who, "start": start, "end": end, "care": care, "first": first}

    # -- sick-leave certificates --------------------------------------------------------------
    def _certificates(self, d0, d1) -> pa.Table:
        rng = self.rng
        parts = []
        self._close_cases(np.flatnonzero((self.sick_start >= 0) & (self.sick_next > self.sick_end)))
        # A case whose next certificate fell before this month (a relapse opened after last month's
        # certificates were written) starts it on the first day of this month: deliveries hold
        # only certificates starting in their month.
        late = np.flatnonzero((self.sick_start >= 0) & (self.sick_next >= 0) & (self.sick_next < d0))
        self.sick_start[late] = np.where(self.sick_start[late] == self.sick_next[late], d0, self.sick_start[late])
        self.sick_next[late] = d0
        self.sick_end[late] = np.maximum(self.sick_end[late], d0)
        who = np.flatnonzero((self.sick_start >= 0) & (self.sick_next <= d1))
        while len(who):
            s = self.sick_next[who]
            first = s == self.sick_start[who]
            n = len(who)
            length = np.where(first, rng.integers(3, 17, n), rng.integers(14, 32, n))
            e = np.minimum(s + length - 1, self.sick_end[who])
            regrade = ~first & (rng.random(n) < 0.2)
            self.sick_grade[who[regrade]] = self._draw_grade(int(regrade.sum()))
            parts.append((who.copy(), s.copy(), e.copy(), self.sick_grade[who].copy()))
            gap = np.where(rng.random(n) < P.SICK_CERT_GAP, rng.integers(1, 17, n), 0)
            self.sick_next[who] = e + 1 + gap
            closed = self.sick_next[who] > self.sick_end[who]
            self._close_cases(who[closed], d0, d1)
            # relapses opened by the closing may start within this month: keep them in the loop
            who = who[(self.sick_start[who] >= 0) & (self.sick_next[who] >= 0) & (self.sick_next[who] <= d1)]
        cols = ["certificate_id", "person_id", "start_date", "end_date", "grade", "diagnosis_system",
                "diagnosis_code"]
        if not parts:
            self.month_certs = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int8),
                                pa.array([], pa.string()))
            return _empty("nav_sickleave", cols)
        who, s, e, g = (np.concatenate(x) for x in zip(*parts))
        order = np.lexsort((who, s))
        who, s, e, g = who[order], s[order], e[order], g[order]
        system = self.sick_system[who]
        code = pa.chunked_array([self._sick_codes[0].take(pa.array(np.where(system == 0, self.sick_code[who], 0))),
                                 ]).combine_chunks()
        code_icd = self._sick_codes[1].take(pa.array(np.where(system == 1, self.sick_code[who], 0)))
        code = pc.if_else(pa.array(system == 1), code_icd, code)
        code = pc.if_else(pa.array(rng.random(len(who)) < P.SICK_MISSING_DIAGNOSIS), pa.scalar(None, pa.string()), code)
        # for the cross-sector registers (crosssector.py): GP contacts at the certificates
        self.month_certs = (who, s, system, self.sick_group[who].astype(np.int8), code)
        return pa.table({
            "certificate_id": ids("S", self._next_ids("cert", len(who))),
            "person_id": hex16(self.uid[who]),
            "start_date": dates(s),
            "end_date": dates(e),
            "grade": ints(g),
            "diagnosis_system": pa.array(np.array(["ICPC2", "ICD10"])[system]),
            "diagnosis_code": code,
        })

    def _close_cases(self, who: np.ndarray, d0: int | None = None, d1: int | None = None):
        if not len(who):
            return
        rng = self.rng
        end = self.sick_end[who].copy()
        to_aap = self.sick_exit_aap[who] & (self.death[who] < 0) & (self.aap_id[who] < 0)
        a = who[to_aap]
        self._new_aap(a, end[to_aap] + 1)
        lose = a[rng.random(len(a)) < P.AAP_LOSES_JOB]
        self._fire(lose)
        self.sick_start[who] = NONE
        self.sick_end[who] = NONE
        self.sick_next[who] = NONE
        self.sick_exit_aap[who] = False
        # relapse: a new case more than 16 days after the end (a new case under the 16-day rule)
        rel = ~to_aap & (self.death[who] < 0) & (self.emp1[who] >= 0) & ~self.c_on[who] & (rng.random(len(who)) < P.SICK_RELAPSE)
        r = who[rel]
        self._new_case(r, end[rel] + rng.integers(17, 91, len(r)), group=self.sick_group[r].astype(np.int64))

    # -- NPR ------------------------------------------------------------------------------
    def _npr(self, d0, d1, adult, age_m) -> pa.Table:
        rng = self.rng
        c = self.codes
        # background episodes
        n = int(rng.poisson(P.NPR_BACKGROUND_PER_MONTH * self.scale))
        w = adult * (1 + (age_m - 18 * 12) / (40 * 12)) * (
            1 + 2 * ((self.sick_start >= 0) | (self.aap_id >= 0) | (self.dis_id >= 0)))
        bw = np.where(adult, w, 0.0)
        who = rng.choice(self.n, n, p=bw / bw.sum()) if n and bw.sum() > 0 else np.zeros(0, np.int64)
        county = self.county[who]
        cum = np.cumsum(self.county_trust_p[county], axis=1)
        k = (rng.random(n)[:, None] > cum).sum(axis=1)
        k = np.minimum(k, self.county_trusts.shape[1] - 1)
        trust = self.county_trusts[county, k]
        far = rng.random(n) < 0.12
        trust = np.where(far, self.public_trusts[rng.integers(0, len(self.public_trusts), n)], trust)
        care = np.array([x[0] for x in P.BACKGROUND_CARE_LEVELS])[pick(rng, P.BACKGROUND_CARE_LEVELS, n)]
        los = np.where(care == 1, np.minimum(1 + rng.geometric(0.25, n), 60), 0)
        end = d0 + rng.integers(0, d1 - d0 + 1, n)
        start = end - los
        acute = (care == 1) & (rng.random(n) < 0.6)
        ref = np.where(acute, start, start - rng.integers(7, 181, n))
        unit_bg = c.bg_units.take(pa.array(trust * UNITS_PER_TRUST + rng.integers(0, UNITS_PER_TRUST, n)))
        main = self._icd10_codes(n)
        n_sec = rng.choice(4, n, p=[0.55, 0.25, 0.12, 0.08])
        c1, c2, c3 = (self._icd10_codes(n) for _ in range(3))
        sec = pc.if_else(pa.array(n_sec == 1), c1, pc.if_else(
            pa.array(n_sec == 2), pc.binary_join_element_wise(c1, c2, "|"),
            pc.binary_join_element_wise(c1, c2, c3, "|")))
        sec = pc.if_else(pa.array(n_sec == 0), pa.scalar(None, pa.string()), sec)
        proc_pool = pa.array(P.BACKGROUND_PROCEDURES)
        proc = pc.if_else(pa.array(rng.random(n) < 0.4), proc_pool.take(pa.array(rng.integers(0, len(proc_pool), n))),
                          pa.scalar(None, pa.string()))
        deb_i = pick(rng, P.BACKGROUND_DEBITORS, n)
        deb = np.array([x[0] if x[0] is not None else NONE for x in P.BACKGROUND_DEBITORS])[deb_i]
        bg = dict(who=who, trust=trust, unit=unit_bg, care=care, ref=ref, start=start, end=end, main=main,
                  sec=sec, proc=proc, deb=deb, work_unit=np.zeros(n, bool))
        # work-related course episodes
        ce = self._course_episodes(d0, d1)
        parts = [bg]
        if ce:
            parts.append(self._course_rows(ce))
        cols = {k: _concat([p[k] for p in parts]) for k in bg}
        return self._npr_table(cols)

    def _icd10_codes(self, n: int) -> pa.Array:
        rng = self.rng
        c = self.codes
        cat = c.icd10.take(pa.array(rng.choice(len(c.icd10), n, p=c.icd10_weight)))
        u = rng.random(n)
        digits = pa.array(np.array(list("0123456789"))[rng.integers(0, 10, n)])
        d2 = pa.array(np.array(list("0123456789"))[rng.integers(0, 10, n)])
        suffix = pc.if_else(pa.array(u < 0.15), "", pc.if_else(pa.array(u < 0.90), digits,
                                                                pc.binary_join_element_wise(digits, d2, "")))
        return pc.binary_join_element_wise(cat, suffix, "")

    def _course_rows(self, ce: dict) -> dict:
        rng = self.rng
        who, start, end, care, first = ce["who"], ce["start"], ce["end"], ce["care"], ce["first"]
        n = len(who)
        trust = self.c_trust[who]
        unit = self.unit_ids.take(pa.array(self.c_unit[who]))
        main = self._course_codes.take(pa.array(self.c_code[who]))
        z56 = pa.array(np.array(["Z563", "Z566", "Z560", "Z561"])[rng.integers(0, 4, n)])
        sec = pc.if_else(pa.array(rng.random(n) < 0.3), z56, pa.scalar(None, pa.string()))
        rt = start < day_of(P.RT_ERA_END)
        u = rng.random(n)
        hoa_first = np.where(u < 0.60, "OABI00", np.where(u < 0.85, "OABI00|OBBJ00", "OBBJ00"))
        hoa_next = np.where(u < 0.70, "OBBJ00", np.where(u < 0.90, "OABI00", "OABI00|OBBJ00"))
        proc_hoa = np.where(first, hoa_first, hoa_next)
        other = np.array(P.BACKGROUND_PROCEDURES)[rng.integers(0, len(P.BACKGROUND_PROCEDURES), n)]
        u2 = rng.random(n)
        proc = np.where(rt, np.where(u2 < 0.25, other, ""), proc_hoa)
        deb = np.where(rt, 20, np.where(u2 < 0.6, NONE, np.where(u2 < 0.9, 1, 10)))
        # coding defect: a work-unit episode without the work-related code
        miss = rng.random(n) < self.codes.defect_rates[trust, 0]
        proc = np.where(miss, np.where(u2 < 0.3, other, ""), proc)
        deb = np.where(miss, np.where(u2 < 0.5, NONE, 1), deb)
        proc_a = pa.array(proc)
        proc_a = pc.if_else(pc.equal(proc_a, ""), pa.scalar(None, pa.string()), proc_a)
        return dict(who=who, trust=trust, unit=unit, care=care, ref=self.c_ref[who].copy(), start=start, end=end,
                    main=main, sec=sec, proc=proc_a, deb=deb, work_unit=np.ones(n, bool))

    def _npr_table(self, col: dict) -> pa.Table:
        """Coding defects by trust, ids, then the table (sorted by end_date)."""
        rng = self.rng
        c = self.codes
        n = len(col["who"])
        rates = c.defect_rates[col["trust"]]
        hit = rng.random((n, rates.shape[1])) < rates
        main = col["main"]
        bad = pa.array(np.array(P.INVALID_DIAGNOSES)[rng.integers(0, len(P.INVALID_DIAGNOSES), n)])
        main = pc.if_else(pa.array(hit[:, 1]), bad, main)
        main = pc.if_else(pa.array(hit[:, 2] & ~hit[:, 1]), pa.scalar(None, pa.string()), main)
        start, end, ref = col["start"].copy(), col["end"], col["ref"].copy()
        ebs = hit[:, 5]
        start[ebs] = end[ebs] + rng.integers(1, 11, int(ebs.sum()))
        ras = hit[:, 4]
        ref[ras] = start[ras] + rng.integers(1, 31, int(ras.sum()))
        ref[hit[:, 3]] = NONE
        unknown = pa.array(np.array(P.UNKNOWN_UNITS)[rng.integers(0, len(P.UNKNOWN_UNITS), n)])
        unit = pc.if_else(pa.array(hit[:, 6]), unknown, col["unit"])
        order = np.argsort(end, kind="stable")
        take = pa.array(order)
        return pa.table({
            "episode_id": ids("E", self._next_ids("ep", n)),
            "person_id": hex16(self.uid[col["who"]]).take(take),
            "health_trust": pa.array(np.array(c.trusts)[col["trust"]]).take(take),
            "unit_id": unit.take(take),
            "care_level": ints(col["care"][order]),
            "referral_date": dates(ref[order]),
            "start_date": dates(start[order]),
            "end_date": dates(end[order]),
            "main_diagnosis": main.take(take),
            "secondary_diagnoses": col["sec"].take(take),
            "procedure_codes": col["proc"].take(take),
            "debitor": ints(col["deb"][order], missing=col["deb"][order] < 0),
        })

    # -- employment and decisions ---------------------------------------------------------------
    def _employment_rows(self, month: np.datetime64, year: int) -> pa.Table:
        rng = self.rng
        self.emp2[self.emp2 == self.emp1] = NONE
        p1 = np.flatnonzero(self.emp1 >= 0)
        p2 = np.flatnonzero(self.emp2 >= 0)
        who = np.concatenate([p1, p2])
        emp = np.concatenate([self.emp1[p1], self.emp2[p2]])
        fte = np.concatenate([self.fte1[p1], self.fte2[p2]])
        order = np.lexsort((emp, who))
        who, emp, fte = who[order], emp[order], fte[order]
        growth = (1 + P.WAGE_GROWTH) ** (year - 2016)
        pay = self.wage[who] * growth * fte / 100 * rng.uniform(0.92, 1.12, len(who))
        pay = np.where(fte == 0, rng.uniform(500, 8000, len(who)), pay)
        return pa.table({
            "person_id": hex16(self.uid[who]),
            "employer_id": self.employer_ids.take(pa.array(emp)),
            "month": pa.array(np.full(len(who), str(month)[:7])),
            "fte_pct": pa.array(fte, pa.float64()),
            "earnings_nok": ints(np.round(pay)),
        })

    def _decision_table(self, events: list, with_grade: bool) -> pa.Table:
        cols = ["decision_id", "person_id", "start_date", "end_date"] + (["grade"] if with_grade else [])
        events = [e for e in events if len(e[0])]
        if not events:
            return _empty("nav_disability" if with_grade else "nav_aap", cols)
        arrs = [np.concatenate(x) for x in zip(*events)]
        did = arrs[0]
        # the newest state of each decision in the month wins
        rev = did[::-1]
        _, last = np.unique(rev, return_index=True)
        keep = np.sort(len(did) - 1 - last)
        arrs = [a[keep] for a in arrs]
        prefix = "U" if with_grade else "A"
        t = {
            "decision_id": ids(prefix, arrs[0]),
            "person_id": hex16(self.uid[arrs[1]]),
            "start_date": dates(arrs[2]),
            "end_date": dates(arrs[3]),
        }
        if with_grade:
            t["grade"] = ints(arrs[4])
        return pa.table(t)


def _concat(values: list):
    if isinstance(values[0], np.ndarray):
        return np.concatenate(values)
    return pa.concat_arrays([v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for v in values])


_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "date": pa.date32(),
          "month": pa.string()}


def _empty(register: str, cols: list[str]) -> pa.Table:
    from workhealth.core.registers import REGISTERS

    reg = REGISTERS[register]
    return pa.table({c: pa.array([], _TYPES[reg.column(c).type]) for c in cols})
