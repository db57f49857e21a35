"""The synthetic population, simulated month by month with vectorised numpy.

State is one numpy array per attribute over all persons ever created (the cohort plus each
January's 18-year-olds); a month's step changes the state and returns that month's rows of the
five monthly registers as pyarrow tables. Nothing loops over persons or rows in Python: loops
run over months, over "rounds" (a certificate or episode chain advancing one link for every
person at once) and over the handful of code-list entries.

Days are int64 days since 1970-01-01 throughout; -1 means "none".
"""

from __future__ import annotations

import zlib
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
# counter-based uniforms: the same (seed, key, month, purpose) gives the same number, so a
# person's untreated shadow twin (same key) draws what the person draws
# ---------------------------------------------------------------------------------------------
_M64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 of one Python int."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def keyed_uniform(keys: np.ndarray, salt: int) -> np.ndarray:
    """Uniforms in [0, 1) from splitmix64 of ``keys`` xor ``salt`` (vectorised; uint64 wraps)."""
    x = keys ^ np.uint64(salt)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def _kpick(u: np.ndarray, shares) -> np.ndarray:
    """Index into ``shares`` (weights) for uniforms ``u``."""
    cum = np.cumsum(np.asarray(shares, dtype=float))
    return np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(cum) - 1)


def month_index(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of int days since the epoch."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _rate(target: float, weight: np.ndarray, real: np.ndarray) -> np.ndarray:
    """Per-person monthly probability ``target * w / sum(w over real persons)``: the expected count
    is ``target`` and a person's chance depends on their own covariates only."""
    total = float(weight[real].sum())
    return weight * (target / total) if total > 0 else np.zeros(len(weight))


# ---------------------------------------------------------------------------------------------
# the population
# ---------------------------------------------------------------------------------------------

#: monthly states as indicators.md §1 derives them (person-month state), and the evaluation's codes
STATES = ("WORK", "SYK", "AAP", "UFOR", "NONE", "DEAD")
S_WORK, S_SYK, S_AAP, S_UFOR, S_NONE, S_DEAD = range(len(STATES))
DX = ("MSK", "MENTAL", "OTHER", "UNKNOWN")
_UNKNOWN_DX = 3
_NEVER = -(10**6)   # a month index long before any data
_HISTORY = 24       # months of state history kept per person
_SHADOW_IDS = 10**12  # decisions and spells of shadows draw ids from here (never delivered)

#: measure types: IPS first, then the others, then the coding-defect codes
MEASURE_CODES = ("INDJOBSTOT", "IPSUNG") + tuple(t[0] for t in P.MEASURE_TYPES) + P.UNKNOWN_MEASURE_TYPES
_MONTHS_LO = np.array([P.IPS_MONTHS["INDJOBSTOT"][0], P.IPS_MONTHS["IPSUNG"][0]]
                      + [t[2] for t in P.MEASURE_TYPES] + [1] * len(P.UNKNOWN_MEASURE_TYPES))
_MONTHS_HI = np.array([P.IPS_MONTHS["INDJOBSTOT"][1], P.IPS_MONTHS["IPSUNG"][1]]
                      + [t[3] for t in P.MEASURE_TYPES] + [6] * len(P.UNKNOWN_MEASURE_TYPES))
_IPS = np.array([c in ("INDJOBSTOT", "IPSUNG") for c in MEASURE_CODES])
#: work-oriented known types (nav_measure_types.csv): the evaluation's NAV measure family
_WORK_ORIENTED = np.array([c in ("INDJOBSTOT", "IPSUNG") or (c in P.MEASURE_EFFECT and c != "VASV")
                           for c in MEASURE_CODES])
_MEASURE_MULT = np.array([1.0, 1.0] + [P.MEASURE_EFFECT[t[0]] for t in P.MEASURE_TYPES]
                         + [1.0] * len(P.UNKNOWN_MEASURE_TYPES))

#: per-person state: name -> (dtype, value for a new person)
FIELDS = {
    # key: what the person's counter-based draws are keyed by (a shadow has its original's);
    # shadow: 0 a real person, 1 an untreated twin being followed, 2 a twin no longer followed
    "uid": (np.uint64, 0), "key": (np.uint64, 0), "shadow": (np.int8, 0), "lat_u": (np.float64, 0.0),
    "birth_year": (np.int32, 0), "birth_month": (np.int32, 1), "sex": (np.int8, 1),
    "muni": (np.int32, 0), "county": (np.int32, 0), "death": (np.int64, NONE), "wage": (np.float64, 0.0),
    "emp1": (np.int64, NONE), "fte1": (np.float64, 0.0), "emp2": (np.int64, NONE), "fte2": (np.float64, 0.0),
    "hire_at": (np.int64, NONE),
    # sick-leave case: sick_end is the 52-week limit until the monthly hazard (or death) decides it
    "sick_start": (np.int64, NONE), "sick_end": (np.int64, NONE), "sick_next": (np.int64, NONE),
    "sick_dec": (np.bool_, False), "sick_group": (np.int8, 0), "sick_system": (np.int8, 0),
    "sick_code": (np.int32, 0), "sick_grade": (np.int32, 100),
    "cert_end": (np.int64, NONE),          # latest end_date of any certificate written
    "case_dx": (np.int8, _UNKNOWN_DX),     # diagnosis group of the latest case as delivered
    # AAP, disability
    "aap_id": (np.int64, NONE), "aap_start": (np.int64, NONE),
    "dis_id": (np.int64, NONE), "dis_start": (np.int64, NONE), "dis_grade": (np.int32, 0),
    # work-related treatment course
    "c_on": (np.bool_, False), "c_trust": (np.int32, 0), "c_unit": (np.int32, 0), "c_left": (np.int32, 0),
    "c_next_start": (np.int64, NONE), "c_next_end": (np.int64, NONE), "c_next_care": (np.int32, 3),
    "c_ref": (np.int64, NONE), "c_code": (np.int64, 0), "c_first": (np.bool_, True),
    "c_level": (np.int8, 3), "c_mult": (np.float64, 1.0), "c_eff_until": (np.int64, _NEVER),
    "c_last_start": (np.int64, _NEVER), "c_end_mi": (np.int64, _NEVER), "c_seen": (np.int64, NONE),
    # NAV measure spell (one open at a time)
    "m_on": (np.bool_, False), "m_id": (np.int64, NONE), "m_type": (np.int32, 0), "m_start": (np.int64, NONE),
    "m_end": (np.int64, NONE), "m_mult": (np.float64, 1.0), "m_eff_until": (np.int64, _NEVER),
    "m_last_start": (np.int64, _NEVER), "m_end_mi": (np.int64, _NEVER),
    # known diagnosis group (case, course or latent; -1 none); monthly state and its history
    "grp": (np.int8, -1), "state": (np.int8, S_NONE), "run": (np.int16, 0), "hb24": (np.int16, 0),
    "f_aap": (np.bool_, False), "f_ufor": (np.bool_, False),
}

#: entry attributes kept for the truth (one value per treated entry)
_ENTRY = ("f", "s", "m", "family", "intervention", "care_level", "dx", "age_group", "sex", "duration",
          "state_prev", "era", "rhf")


class World:
    def __init__(self, rng: np.random.Generator, scale: float, start: np.datetime64, codes: Codes,
                 seed: int = 0):
        self.rng, self.scale, self.codes = rng, scale, codes
        self.seed_salt = _mix(seed & _M64)
        self.n = 0
        for name, (dtype, _) in FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        self.hist = np.zeros((0, _HISTORY), np.int8)
        self.counters = {"cert": 0, "ep": 0, "aap": 0, "dis": 0, "spell": 0, "shadow": 0}
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
        # disability by county: NAV's shares relative to their population-weighted mean
        cw = np.array([P.COUNTY_WEIGHTS.get(c, 0.01) for c in codes.counties])
        pct = np.array([P.COUNTY_DISABILITY_PCT[c] for c in codes.counties])
        self.dis_factor = pct / float((cw * pct).sum() / cw.sum())
        rhfs = [r["rhf"] for r in codelists.load("regions")]
        self.county_rhf_index = np.array([rhfs.index(r) for r in codes.county_rhf])
        self.rhfs = rhfs
        self.aap_events: list[tuple] = []
        self.dis_events: list[tuple] = []
        self.measure_events: list[tuple] = []
        self.month_certs = (np.zeros(0, np.int64),) * 4 + (pa.array([], pa.string()),)
        self._cert_groups = (np.zeros(0, np.int64), np.zeros(0, np.int8))
        self.prev_snapshot = NONE
        self.opening_balance = True
        self.mi = self.mi0 = int(start.astype(np.int64))
        self.d0, self.d1 = month_days(start)
        self.entries = {k: np.zeros(0, np.int64) for k in _ENTRY}
        self.out_f = np.zeros((0, len(P.TRUTH_FOLLOW_UP)), np.int8)
        self.out_s = np.zeros((0, len(P.TRUTH_FOLLOW_UP)), np.int8)
        #: family -> state in m-1 -> role (treated, eligible non-starters) -> [entries, sum of
        #: duration months, sum of SYK/AAP months in m-24 .. m-1]: how selection is confounded
        self.selection = {f: {st: {r: [0, 0, 0] for r in ("treated", "pool")} for st in ("SYK", "AAP")}
                          for f in ("course", "nav_measure")}
        self._init_cohort(start, self.d0)

    def ku(self, purpose: str, idx: np.ndarray | None = None) -> np.ndarray:
        """This month's keyed uniforms for ``purpose``, for everyone or the persons ``idx``."""
        keys = self.key if idx is None else self.key[idx]
        salt = _mix(_mix(self.seed_salt ^ (self.mi & _M64)) ^ zlib.crc32(purpose.encode()))
        return keyed_uniform(keys, salt)

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

    def _append(self, rows: np.ndarray | None, n: int) -> np.ndarray:
        """Append ``n`` persons: defaults (rows None) or copies of ``rows``; returns their indices."""
        for name, (dtype, default) in FIELDS.items():
            arr = getattr(self, name)
            extra = np.full(n, default, dtype=dtype) if rows is None else arr[rows]
            setattr(self, name, np.concatenate([arr, extra]))
        extra = np.full((n, _HISTORY), S_NONE, np.int8) if rows is None else self.hist[rows]
        self.hist = np.concatenate([self.hist, extra])
        new = np.arange(self.n, self.n + n)
        self.n += n
        return new

    def _grow(self, n: int) -> np.ndarray:
        new = self._append(None, n)
        rng = self.rng
        uid = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        self.uid[new] = uid
        self._dedupe_uids(new)
        self.key[new] = self.uid[new]
        self.lat_u[new] = keyed_uniform(self.uid[new], _mix(self.seed_salt ^ 0x1A7E47))
        self.sex[new] = rng.integers(1, 3, n)
        self.birth_month[new] = rng.integers(1, 13, n)
        cw = np.array([P.COUNTY_WEIGHTS.get(c, 0.01) for c in self.codes.counties])
        self.county[new] = rng.choice(len(cw), n, p=cw / cw.sum())
        self.muni[new] = self._draw_municipality(self.county[new])
        self.wage[new] = P.WAGE_2016 * np.exp(rng.normal(0, 0.3, n)) * np.where(self.sex[new] == 1, 1.08, 0.94)
        return new

    def _dedupe_uids(self, new: np.ndarray):
        """Unique uids among real persons, and none of the ``new`` ones (or their redraws) with a
        16-hex person_id holding a national identity number under the ingestion rule (an 11-digit
        run that checks out: about 5 per million random ids, and one refuses a whole delivery as a
        privacy breach). Only redraws draw from the rng, so other seeds' output is unchanged."""
        check = new
        while True:
            real = np.flatnonzero(self.shadow == 0)
            _, first = np.unique(self.uid[real], return_index=True)
            redraw = np.union1d(np.setdiff1d(real, real[first]), check[_with_identity_number(self.uid[check])])
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
        # disability stock, rising steeply with age, by county as NAV's shares
        w = np.exp(0.07 * (age - 18))
        p_dis = np.minimum(0.6, P.INIT_DISABILITY_SHARE * w / w.mean() * self.dis_factor[self.county[new]])
        dis = new[rng.random(n) < p_dis]
        self._new_disability(dis, d0 - rng.integers(30, 3650, len(dis)), event=False)
        # AAP stock among the others aged 20-64
        elig = new[(self.dis_id[new] < 0) & (age >= 20) & (age <= 64)]
        aap = elig[rng.random(len(elig)) < P.INIT_AAP_SHARE * n / max(1, len(elig))]
        self._new_aap(aap, d0 - rng.integers(30, 1400, len(aap)), event=False)
        # employment
        p_emp = np.select([age < 20, age < 25, age < 55, age < 62], [0.45, 0.70, 0.86, 0.78], 0.50)
        p_emp = np.where(self.aap_id[new] >= 0, 0.3, p_emp)
        p_emp = np.where(self.dis_id[new] >= 0, np.where(self.dis_grade[new] < 100, 0.5, 0.0), p_emp)
        emp = new[rng.random(n) < p_emp]
        self._hire(emp)
        # ongoing sick-leave cases (their end: the monthly hazard from the first month on)
        elig = emp[(self.aap_id[emp] < 0) & (self.dis_id[emp] < 0)]
        sick = elig[rng.random(len(elig)) < P.INIT_SICK_SHARE]
        elapsed = (330 * rng.random(len(sick)) ** 2).astype(np.int64) + 1
        self._new_case(sick, d0 - elapsed)
        self.sick_next[sick] = np.minimum(d0 + rng.integers(0, 15, len(sick)), self.sick_end[sick])

    # -- state changes ------------------------------------------------------------------------
    def _next_ids(self, kind: str, n: int) -> np.ndarray:
        first = self.counters[kind]
        self.counters[kind] += n
        return np.arange(first + 1, first + n + 1, dtype=np.int64)

    def _ids(self, kind: str, who: np.ndarray) -> np.ndarray:
        """Ids for new decisions or spells: delivered ones count on, shadows' come from elsewhere."""
        real = self.shadow[who] == 0
        out = np.empty(len(who), np.int64)
        out[real] = self._next_ids(kind, int(real.sum()))
        out[~real] = self._next_ids("shadow", int((~real).sum())) + _SHADOW_IDS
        return out

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
        self.sick_end[who] = start + 363  # the 52-week limit; the monthly hazard may end it earlier
        self.sick_dec[who] = False
        if group is None:
            group = _kpick(self.ku("case_group", who), P.SICK_GROUP_SHARES)
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

    def _new_aap(self, who: np.ndarray, start: np.ndarray, event: bool = True):
        n = len(who)
        self.aap_id[who] = self._ids("aap", who)
        self.aap_start[who] = start
        if event:
            self.aap_events.append((self.aap_id[who].copy(), who.copy(), start.copy(), np.full(n, NONE)))

    def _end_aap(self, who: np.ndarray, end: np.ndarray):
        self.aap_events.append((self.aap_id[who].copy(), who.copy(), self.aap_start[who].copy(), end.copy()))
        self.f_aap[who] |= (end >= self.d0) & (self.aap_start[who] <= self.d1)
        self.aap_id[who] = NONE
        self.aap_start[who] = NONE

    def _new_disability(self, who: np.ndarray, start: np.ndarray, event: bool = True):
        rng = self.rng
        n = len(who)
        self.dis_id[who] = self._ids("dis", who)
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
        self.f_ufor[who] |= (end >= self.d0) & (self.dis_start[who] <= self.d1)
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
        keep = ((self.death < 0) | (self.death >= self.prev_snapshot)) & (self.shadow == 0)
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
    def _age_m(self, year: int, mon: int) -> np.ndarray:
        return (year * 12 + mon) - (self.birth_year * 12 + self.birth_month)

    def step(self, month: np.datetime64) -> dict[str, pa.Table]:
        d0, d1 = month_days(month)
        self.d0, self.d1, self.mi = d0, d1, int(month.astype(np.int64))
        year, mon = int(str(month)[:4]), int(str(month)[5:7])
        self.aap_events, self.dis_events, self.measure_events = [], [], []
        self.f_aap[:] = False
        self.f_ufor[:] = False
        if self.opening_balance:
            # The first delivery carries every decision in force (an opening balance); later ones
            # only the decisions created or changed in their month.
            self.opening_balance = False
            a = np.flatnonzero(self.aap_id >= 0)
            self.aap_events.append((self.aap_id[a].copy(), a, self.aap_start[a].copy(), np.full(len(a), NONE)))
            self._dis_event(np.flatnonzero(self.dis_id >= 0), np.full(int((self.dis_id >= 0).sum()), NONE))
            # the month before the first, as the opening stock stands: selection reads it
            self.state = self._opening_states(d0)
        age_m = self._age_m(year, mon)
        alive = self.death < 0
        self._deaths(d0, d1, age_m, alive)
        self._retirement(d1, age_m)
        adult = (self.death < 0) & (age_m >= 18 * 12) & (age_m < 67 * 12)
        self._select(d0, d1, year, adult, age_m)  # may add shadows: recompute the masks
        age_m = self._age_m(year, mon)
        adult = (self.death < 0) & (age_m >= 18 * 12) & (age_m < 67 * 12)
        self._benefits(d0, d1, adult, age_m)
        self._employment(d0, d1, adult, age_m)
        self._sick_leave_inflow(d0, d1, adult)
        self._sick_hazard(d0, d1, age_m)
        sickleave = self._certificates(d0, d1)
        episodes = self._npr(d0, d1, adult, age_m)
        employment = self._employment_rows(month, year)
        self._measure_ends(d0, d1, age_m)
        self._record_states(d0, d1)
        self.c_seen[self.c_on] = d1
        self._update_groups()
        # the dead and the retired leave their jobs after their last month's report
        gone = np.flatnonzero((self.death >= 0) | (age_m >= 67 * 12))
        self._fire(gone[self.emp1[gone] >= 0])
        self._retire_shadows()
        return {
            "npr_episodes": episodes,
            "nav_sickleave": sickleave,
            "nav_aap": self._decision_table(self.aap_events, with_grade=False),
            "nav_disability": self._decision_table(self.dis_events, with_grade=True),
            "aareg_employment": employment,
        }

    def _deaths(self, d0, d1, age_m, alive):
        age = age_m / 12.0
        annual = P.MORTALITY_A * np.exp(P.MORTALITY_B * (np.maximum(age, 18) - 18))
        annual = np.where(self.dis_id >= 0, annual * 3, annual)
        dies = np.flatnonzero(alive & (self.ku("death") < annual / 12))
        day = d0 + (self.ku("death_day", dies) * (d1 - d0 + 1)).astype(np.int64)
        self.death[dies] = day
        s = dies[self.sick_start[dies] >= 0]
        self.sick_end[s] = np.minimum(self.sick_end[s], self.death[s])
        self.sick_dec[s] = True
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
        self.sick_dec[s] = True
        self.c_on[r] = False
        self.hire_at[r] = NONE

    def _age_band(self, age_m: np.ndarray) -> np.ndarray:
        return np.searchsorted(np.array(P.HAZARD_AGE_BANDS) * 12, age_m, side="right")

    def _mult(self, who: np.ndarray) -> np.ndarray:
        """The hazard multiplier of the interventions in effect (running, or up to
        EFFECT_AFTER_MONTHS after their end month)."""
        c = np.where(self.c_on[who] | (self.mi <= self.c_eff_until[who]), self.c_mult[who], 1.0)
        m = np.where(self.m_on[who] | (self.mi <= self.m_eff_until[who]), self.m_mult[who], 1.0)
        return c * m

    def _prior(self) -> np.ndarray:
        """Months on SYK/AAP in the last 24 outside the current run (benefit history)."""
        return np.maximum(0, self.hb24.astype(np.int64) - np.minimum(self.run, _HISTORY))

    def _benefits(self, d0, d1, adult, age_m):
        rng = self.rng
        n = self.n
        # AAP ends by monthly hazards: to work (x the intervention multiplier), disability, neither
        on = np.flatnonzero((self.aap_id >= 0) & (self.aap_start < d0) & adult)
        months = self.mi - month_index(self.aap_start[on])
        band = self._age_band(age_m[on])
        hw = P.AAP_EXIT_HAZARD[0] * np.array(P.AAP_WORK_AGE)[band] * self._mult(on)
        hd = P.AAP_EXIT_HAZARD[1] * np.array(P.AAP_DISABILITY_AGE)[band] * self.dis_factor[self.county[on]]
        hn = np.full(len(on), P.AAP_EXIT_HAZARD[2])
        total = hw + hd + hn
        f = np.where(months >= P.AAP_MAX_MONTHS, 1 / total,
                     np.where(months >= P.AAP_MIN_MONTHS, np.minimum(1.0, P.HAZARD_CAP / total), 0.0))
        hw, hd, hn = hw * f, hd * f, hn * f
        u = self.ku("aap_exit", on)
        to_work = u < hw
        to_dis = ~to_work & (u < hw + hd)
        leave = u < hw + hd + hn
        ending = on[leave]
        lo = np.maximum(d0, self.aap_start[ending])
        end = lo + (self.ku("aap_exit_day", ending) * (d1 - lo + 1)).astype(np.int64)
        self._end_aap(ending, end)
        work, dis = to_work[leave], to_dis[leave]
        back = ending[work]
        delay = (self.ku("aap_hire", back) * 61).astype(np.int64)
        self.hire_at[back] = np.where(self.emp1[back] < 0, end[work] + delay, NONE)
        dis_ok = self.dis_id[ending[dis]] < 0
        self._new_disability(ending[dis][dis_ok], end[dis][dis_ok] + 1)
        # reassessed (changed) ongoing decisions: re-delivered as they stand
        on = np.flatnonzero((self.aap_id >= 0) & (rng.random(n) < P.AAP_REASSESS))
        self.aap_events.append((self.aap_id[on].copy(), on, self.aap_start[on].copy(), np.full(len(on), NONE)))
        # direct inflow among the non-employed without benefits (disability by county)
        free = adult & (self.emp1 < 0) & (self.aap_id < 0) & (self.dis_id < 0) & (self.sick_start < 0)
        u = self.ku("benefit_inflow")
        new = np.flatnonzero(free & (u < P.AAP_DIRECT) & (age_m >= 19 * 12))
        self._new_aap(new, d0 + (self.ku("aap_day", new) * (d1 - d0 + 1)).astype(np.int64))
        p_dis = P.DIS_DIRECT * self.dis_factor[self.county]
        new = np.flatnonzero(free & (age_m >= 35 * 12) & (u >= P.AAP_DIRECT) & (u < P.AAP_DIRECT + p_dis))
        self._new_disability(new, d0 + (self.ku("dis_day", new) * (d1 - d0 + 1)).astype(np.int64))
        # disability grade changes
        ch = np.flatnonzero((self.dis_id >= 0) & (rng.random(n) < P.DIS_GRADE_CHANGE))
        self.dis_grade[ch] = np.clip(self.dis_grade[ch] + rng.choice([-20, -10, 10, 20], len(ch)), 30, 100)
        self._dis_event(ch, np.full(len(ch), NONE))

    def _employment(self, d0, d1, adult, age_m):
        rng = self.rng
        n = self.n
        u = self.ku("job")
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
        p = P.SICK_NEW_CASE * np.where(self.sex == 2, P.SICK_WOMEN_FACTOR, 1.0)
        elig = adult & (self.emp1 >= 0) & (self.sick_start < 0) & (self.aap_id < 0) & (self.dis_id < 0)
        new = np.flatnonzero(elig & (self.ku("sick_new") < p))
        self._new_case(new, d0 + (self.ku("sick_day", new) * (d1 - d0 + 1)).astype(np.int64))

    def _sick_hazard(self, d0, d1, age_m):
        """Ongoing cases end this month with the monthly hazard by month of the case, diagnosis
        group, age and benefit history, times the multiplier of an intervention in effect."""
        on = np.flatnonzero((self.sick_start >= 0) & ~self.sick_dec & (self.sick_start <= d1) & (self.death < 0))
        j = np.clip(self.mi - month_index(self.sick_start[on]), 0, len(P.SICK_END_HAZARD) - 1)
        h = (np.array(P.SICK_END_HAZARD)[j] * np.array(P.SICK_HAZARD_GROUP)[self.sick_group[on]]
             * np.array(P.SICK_HAZARD_AGE)[self._age_band(age_m[on])]
             * np.exp(-P.HAZARD_HISTORY * self._prior()[on]) * self._mult(on))
        hit = self.ku("sick_end", on) < np.minimum(h, P.HAZARD_CAP)
        end = on[hit]
        lo = np.where(j[hit] == 0, self.sick_start[end] + 2, d0)
        day = lo + (self.ku("sick_end_day", end) * np.maximum(d1 - lo + 1, 1)).astype(np.int64)
        # never before a certificate already written (it may reach into this month)
        seen = np.where(self.cert_end[end] >= self.sick_start[end], self.cert_end[end], NONE)
        self.sick_end[end] = np.minimum(self.sick_end[end], np.maximum(day, seen))
        self.sick_dec[end] = True

    # -- selection into interventions, shadows ---------------------------------------------------
    def _update_groups(self):
        """The diagnosis group each person is known by: the current case's, else the course's,
        else (on AAP or disability) a latent one."""
        who, group = self._cert_groups
        self.grp[who] = group
        sick = self.sick_start >= 0
        self.grp[sick] = self.sick_group[sick]
        on = np.flatnonzero(self.c_on)
        self.grp[on] = self._course_code_group[self.c_code[on]]
        self._latent(np.flatnonzero((self.aap_id >= 0) | (self.dis_id >= 0)), "benefit")

    def _latent(self, who: np.ndarray, kind: str):
        who = who[self.grp[who] < 0]
        self.grp[who] = _kpick(self.lat_u[who], P.LATENT_GROUP_SHARES[kind])

    def _select(self, d0, d1, year, adult, age_m):
        """Who starts a course or a NAV measure this month: a per-person probability from the
        covariates, calibrated to the documented volumes, decided by a keyed uniform. For every
        eligible (evaluation.md §2) real starter an untreated shadow is added."""
        mi = self.mi
        real = self.shadow == 0
        self._update_groups()
        prior = self._prior()
        # Selection sees only what the registers show up to m-1 (the referral was made then): the
        # state of m-1, the run of SYK/AAP months to m-1, the delivered diagnosis group of the
        # latest case, the benefit history. Whether a sick leave ends late in m-1 or runs on into
        # m must not decide it: that is invisible to the evaluation's eligibility (state in m-1),
        # and would plant a confounder no register shows (docs/synthetic_data.md).
        prev = self.state
        cs = d0 + (self.ku("course_day") * (d1 - d0 + 1)).astype(np.int64)
        ok = (adult & (age_m >= 20 * 12) & (age_m < 65 * 12) & ~self.c_on
              & (mi - self.c_last_start > P.COURSE_WASHOUT_MONTHS))
        # courses: on sick leave in m-1 around a target duration (growing by year), more with history
        sd = np.maximum(self.run, 1) * 30.44
        target = min(P.SICK_DAYS_CAP, P.SICK_DAYS_2016 * P.SICK_DAYS_GROWTH ** (year - 2016))
        # rising to the target duration, slowly falling after: longer sick leave, more likely
        w_dur = np.where(sd < target, (sd / target) ** 2, np.exp(-(sd - target) / 365))
        w_dx = np.array([1.0, 1.0, 0.12, 1.0])[self.case_dx]  # MSK, MENTAL, OTHER, UNKNOWN as delivered
        w_sick = np.where(ok & (prev == S_SYK), w_dur * w_dx * (1 + P.COURSE_HISTORY_WEIGHT * prior), 0.0)
        rest = ok & (prev != S_SYK) & (prev != S_AAP) & ((self.dis_id < 0) | (self.dis_grade < 100))
        w_other = np.where(ok & (prev == S_AAP), 6.0, np.where(rest, np.where(self.emp1 < 0, 1.5, 0.3), 0.0))
        k = max(P.COURSES_MIN_PER_MONTH, P.COURSES_PER_MONTH * self.scale)
        p = (_rate(k * P.COURSE_ON_SICK_LEAVE, w_sick, real)
             + _rate(k * (1 - P.COURSE_ON_SICK_LEAVE), w_other, real))
        start_c = self.ku("course") < np.minimum(p, 0.9)
        # NAV measures: from AAP (more with benefit history), in/after a course, young or older
        # persons outside work without benefits
        age_y = year - self.birth_year
        free = adult & ~self.m_on & (age_m < 66 * 12)
        # (as for courses, by what the registers show up to m-1: on AAP in m-1; a course ended in
        # m-24..m-1, the evaluation's covariate; outside work and benefits in m-1 as well as now)
        out = ((self.emp1 < 0) & (self.aap_id < 0) & (self.dis_id < 0) & (self.sick_start < 0)
               & (prev != S_SYK) & (prev != S_AAP))
        pools = {"aap": free & (prev == S_AAP),
                 "course": free & ~self.c_on & (self.c_end_mi >= mi - _HISTORY) & (self.c_end_mi < mi),
                 "young": free & out & (age_y <= 29),
                 "other": free & out & (age_y >= 30) & (age_m < 62 * 12)}
        taken = np.zeros(self.n, bool)
        p = np.zeros(self.n)
        young_src = np.zeros(self.n, bool)
        for source, share in P.MEASURE_SOURCES:
            pool = pools[source] & ~taken
            w = np.where(pool, 1 + P.MEASURE_HISTORY_WEIGHT * self.hb24 if source == "aap" else 1.0, 0.0)
            p += _rate(share * P.MEASURES_PER_MONTH * self.scale, w, real)
            taken |= pool
            young_src |= pool & (source == "young")
        start_m = self.ku("measure") < np.minimum(p, 0.9)
        self._latent(np.flatnonzero(start_m & young_src), "young")
        self._latent(np.flatnonzero(start_m & ~young_src), "benefit")
        mtype = np.zeros(self.n, np.int64)
        mtype[start_m] = self._measure_types(np.flatnonzero(start_m), year)
        # treated entries: eligible real starters (evaluation.md §2)
        ent_c = ent_m = np.zeros(0, np.int64)
        if mi >= self.mi0 + 12:
            base = (real & (self.death < 0) & (age_y >= 18) & (age_y <= 66)
                    & ((self.state == S_SYK) | (self.state == S_AAP)))
            elig_c = base & ~self.c_on & (mi - self.c_last_start > 12) & (self.c_end_mi < mi - 1)
            elig_m = (base & ~(self.m_on & _WORK_ORIENTED[self.m_type]) & (mi - self.m_last_start > 12)
                      & (self.m_end_mi < mi - 1))
            ent_c = np.flatnonzero(elig_c & start_c)
            ent_m = np.flatnonzero(elig_m & start_m & _WORK_ORIENTED[mtype])
            for family, elig, started in (("course", elig_c, start_c), ("nav_measure", elig_m, start_m)):
                for st, code in (("SYK", S_SYK), ("AAP", S_AAP)):
                    for role, sel in (("treated", elig & started), ("pool", elig & ~started)):
                        sel = sel & (self.state == code)
                        s = self.selection[family][st][role]
                        s[0] += int(sel.sum())
                        s[1] += int(self.run[sel].sum())
                        s[2] += int(self.hb24[sel].sum())
        # shadows: copies before anything starts; each is kept from its own family's start now,
        # and otherwise starts what its original starts (same draws)
        both = np.concatenate([ent_c, ent_m])
        shadows = self._append(both, len(both)) if len(both) else np.zeros(0, np.int64)
        self.shadow[shadows] = 1
        sh_c, sh_m = shadows[: len(ent_c)], shadows[len(ent_c):]
        start_c = np.concatenate([start_c, np.zeros(len(both), bool)])
        start_m = np.concatenate([start_m, np.zeros(len(both), bool)])
        c_who = np.concatenate([np.flatnonzero(start_c), sh_m[start_c[ent_m]]])
        c_day = np.concatenate([cs[np.flatnonzero(start_c)], cs[ent_m][start_c[ent_m]]])
        self._start_courses(c_who, c_day, d0)
        m_orig = np.concatenate([np.flatnonzero(start_m), ent_c[start_m[ent_c]]])
        m_who = np.concatenate([np.flatnonzero(start_m), sh_c[start_m[ent_c]]])
        self._start_measures(m_who, mtype[m_orig], d0, d1)
        self._add_entries(ent_c, sh_c, "course", np.zeros(len(ent_c), np.int64), year)
        self._add_entries(ent_m, sh_m, "nav_measure", np.where(_IPS[mtype[ent_m]], 1, 2), year)

    def _add_entries(self, f: np.ndarray, s: np.ndarray, family: str, intervention: np.ndarray, year: int):
        if not len(f):
            return
        age_y = year - self.birth_year[f]
        run = self.run[f]
        new = {
            "f": f, "s": s, "m": np.full(len(f), self.mi), "family": np.full(len(f), family == "nav_measure"),
            "intervention": intervention, "care_level": self.c_level[f].astype(np.int64),
            "dx": self.case_dx[f].astype(np.int64),
            "age_group": np.searchsorted(np.array([30, 50]), age_y, side="right"),
            "sex": self.sex[f].astype(np.int64),
            "duration": np.searchsorted(np.array([3, 6, 12]), run, side="right"),
            "state_prev": self.state[f].astype(np.int64),
            "era": np.full(len(f), int(self.d0 >= day_of(P.RT_ERA_END))),
            "rhf": self.county_rhf_index[self.county[f]],
        }
        for k, v in new.items():
            self.entries[k] = np.concatenate([self.entries[k], np.asarray(v, np.int64)])
        blank = np.full((len(f), len(P.TRUTH_FOLLOW_UP)), -1, np.int8)
        self.out_f = np.concatenate([self.out_f, blank])
        self.out_s = np.concatenate([self.out_s, blank])

    def _working(self) -> np.ndarray:
        """A job with fte > 0 (the WORK rule of indicators.md §1)."""
        return ((self.emp1 >= 0) & (self.fte1 > 0)) | ((self.emp2 >= 0) & (self.fte2 > 0))

    def _opening_states(self, d0) -> np.ndarray:
        """The state of the month before the first generated month, by the rules of
        indicators.md §1 on the opening stock (no register shows it: it only drives selection)."""
        st = np.full(self.n, S_NONE, np.int8)
        st[self._working()] = S_WORK
        st[(self.sick_start >= 0) & (self.sick_start < d0)] = S_SYK
        st[(self.aap_id >= 0) & (self.aap_start < d0)] = S_AAP
        st[(self.dis_id >= 0) & (self.dis_start < d0)] = S_UFOR
        return st

    def _record_states(self, d0, d1):
        """This month's state of everyone (and their twins), by the rules of indicators.md §1 on
        what the registers show; the outcomes of the entries followed to this month."""
        st = np.full(self.n, S_NONE, np.int8)
        st[self._working()] = S_WORK
        st[self.cert_end >= d0] = S_SYK
        st[self.f_aap | ((self.aap_id >= 0) & (self.aap_start <= d1))] = S_AAP
        st[self.f_ufor | ((self.dis_id >= 0) & (self.dis_start <= d1))] = S_UFOR
        st[(self.death >= 0) & (self.death < d0)] = S_DEAD
        sa = (st == S_SYK) | (st == S_AAP)
        slot = self.mi % _HISTORY
        old = self.hist[:, slot]
        self.hb24 += sa.astype(np.int16) - ((old == S_SYK) | (old == S_AAP)).astype(np.int16)
        self.hist[:, slot] = st
        self.run = np.where(sa, self.run + 1, 0).astype(np.int16)
        self.state = st
        e = self.entries
        for i, k in enumerate(P.TRUTH_FOLLOW_UP):
            sel = e["m"] == self.mi - k
            self.out_f[sel, i] = st[e["f"][sel]]
            self.out_s[sel, i] = st[e["s"][sel]]

    def _retire_shadows(self):
        """Shadows followed for the longest k are no longer simulated."""
        done = self.entries["s"][self.entries["m"] <= self.mi - max(P.TRUTH_FOLLOW_UP)]
        done = done[self.shadow[done] == 1]
        self.shadow[done] = 2
        self.death[done] = 0
        for name in ("sick_start", "sick_end", "sick_next", "aap_id", "dis_id", "hire_at", "emp1", "emp2"):
            getattr(self, name)[done] = NONE
        self.c_on[done] = False
        self.m_on[done] = False

    def truth(self) -> list[dict]:
        """The true effect on the treated: for each intervention and subgroup (the evaluation's
        ``effects`` names), outcome and k, the mean over followed entries of outcome(person) -
        outcome(untreated twin)."""
        e = self.entries
        dims = {
            "diagnosis_group": (e["dx"], DX),
            "age_group": (e["age_group"], ("16-29", "30-49", "50-66")),
            "sex": (e["sex"] - 1, ("1", "2")),
            "duration_band": (e["duration"], ("1-2", "3-5", "6-11", "12+")),
            "state_prev": (e["state_prev"], STATES),
            "era": (e["era"], ("RASKERE_TILBAKE", "HELSE_OG_ARBEID")),
            "rhf": (e["rhf"], tuple(self.rhfs)),
            "care_level": (e["care_level"] - 1, ("1", "2", "3")),
        }
        course = e["family"] == 0
        interventions = {
            "HA_COURSE": course,
            **{f"HA_COURSE_{lvl}": course & (e["care_level"] == lvl) for lvl in (1, 2, 3)},
            "IPS": ~course & (e["intervention"] == 1),
            "NAV_MEASURE": ~course & (e["intervention"] == 2),
        }
        outcomes = {"rtw": lambda s: s == S_WORK,
                    "hrb": lambda s: (s == S_SYK) | (s == S_AAP) | (s == S_UFOR)}
        rows = []
        for name, sel_i in interventions.items():
            groups = [("all", "all", sel_i)]
            for dim, (codes, labels) in dims.items():
                if dim == "care_level" and name != "HA_COURSE":
                    continue
                groups += [(dim, label, sel_i & (codes == v)) for v, label in enumerate(labels)]
            for dim, value, sel in groups:
                for outcome, f in outcomes.items():
                    for i, k in enumerate(P.TRUTH_FOLLOW_UP):
                        followed = sel & (self.out_f[:, i] >= 0)
                        n = int(followed.sum())
                        if not n:
                            continue
                        yf = f(self.out_f[followed, i]).astype(float)
                        ys = f(self.out_s[followed, i]).astype(float)
                        rows.append({"intervention": name, "subgroup_dim": dim, "subgroup_value": value,
                                     "outcome": outcome, "k": k, "true_att": round(float((yf - ys).mean()), 6),
                                     "n_treated": n, "rate_treated": round(float(yf.mean()), 6),
                                     "rate_untreated": round(float(ys.mean()), 6)})
        return rows

    # -- work-related treatment courses ---------------------------------------------------------------
    def _start_courses(self, who: np.ndarray, cs: np.ndarray, d0: int):
        """Start courses (keyed draws: a twin starting the same course gets the same one). The care
        level is fixed at the start (the first episode has it) and sets the effect."""
        if not len(who):
            return
        rng = self.rng
        n = len(who)
        # referred from sick leave (on it in m-1, or still): the course treats the case's diagnosis
        on_case = (self.state[who] == S_SYK) | ((self.sick_start[who] >= 0) & (self.sick_start[who] < cs))
        group = np.where(on_case, self.sick_group[who],
                         _kpick(self.ku("course_group", who), P.COURSE_GROUP_SHARES)).astype(np.int64)
        off = self._course_code_offsets
        self.c_code[who] = off[group] + (self.ku("course_code", who) * (off[group + 1] - off[group])).astype(np.int64)
        # trust and unit
        county = self.county[who]
        priv = self.ku("course_private", who) < P.COURSE_PRIVATE
        trust = np.where(priv, self.county_priv_trust[county], self.county_course_trust[county])
        hoa1, hoa2 = self.trust_unit["HOA1"][trust], self.trust_unit["HOA2"][trust]
        arr1, arr2 = self.trust_unit["ARR1"][trust], self.trust_unit["ARR2"][trust]
        u = self.ku("course_unit", who)
        psych_ok = (hoa2 >= 0) & (self.unit_from[np.maximum(hoa2, 0)] <= cs) & (group == 1)
        unit = np.where(psych_ok & (u < 0.7), hoa2, hoa1)
        arr2_ok = (arr2 >= 0) & (self.unit_to[np.maximum(arr2, 0)] >= cs + 365)
        unit = np.where(priv, np.where(arr2_ok & (u < 0.4), arr2, arr1), unit)
        episodes = 1 + _kpick(self.ku("course_episodes", who), P.COURSE_EPISODES)
        kind = self.unit_kind[unit]
        # a day-treatment episode somewhere in the course, as often as per-episode draws would give
        p_dag = np.where(kind == "HOA1", 1 - 0.85 ** episodes, 1 - 0.95 ** episodes)
        level = np.select([kind == "ARR1", kind == "ARR2"], [1, 2],
                          np.where(self.ku("course_level", who) < p_dag, 2, 3))
        self.c_on[who] = True
        self.c_trust[who] = trust
        self.c_unit[who] = unit
        self.c_left[who] = episodes
        self.c_ref[who] = cs - rng.integers(14, 101, n)
        self.c_first[who] = True
        self.c_level[who] = level
        self.c_mult[who] = np.array([P.COURSE_EFFECT[lv] for lv in (1, 2, 3)])[level - 1, group]
        self.c_last_start[who] = self.mi
        self.c_next_care[who] = level
        self.c_next_start[who] = cs
        los = 14 + (self.ku("course_los", who) * 15).astype(np.int64)
        self.c_next_end[who] = cs + np.where(level == 1, los, 0)

    def _course_episodes(self, d0, d1) -> dict:
        out = []
        who = np.flatnonzero(self.c_on & (self.c_next_end <= d1))
        r = 0
        gaps = P.COURSE_GAPS
        while len(who):
            start, end = self.c_next_start[who].copy(), self.c_next_end[who].copy()
            care, first = self.c_next_care[who].copy(), self.c_first[who].copy()
            out.append((who.copy(), start, end, care, first))
            self.c_left[who] -= 1
            self.c_first[who] = False
            done = self.c_left[who] <= 0
            ended = who[done]
            self.c_on[ended] = False
            self.c_end_mi[ended] = self.mi
            self.c_eff_until[ended] = self.mi + P.EFFECT_AFTER_MONTHS
            more = who[~done]
            cls = _kpick(self.ku(f"episode_gap_class{r}", more), [g[0] for g in gaps])
            lo, hi = np.array([g[1] for g in gaps])[cls], np.array([g[2] for g in gaps])[cls]
            gap = lo + (self.ku(f"episode_gap{r}", more) * (hi - lo + 1)).astype(np.int64)
            care = self._episode_care(more, self.ku(f"episode_care{r}", more))
            self.c_next_care[more] = care
            self.c_next_start[more] = self.c_next_end[more] + gap
            # a gap of more than 90 days starts a new course under the indicators' rule: it
            # counts as a start for the washout, as the evaluation will see it
            split = more[gap > 90]
            self.c_last_start[split] = month_index(self.c_next_start[split])
            los = 5 + (self.ku(f"episode_los{r}", more) * 6).astype(np.int64)
            self.c_next_end[more] = self.c_next_start[more] + np.where(care == 1, los, 0)
            who = more[self.c_next_end[more] <= d1]
            r += 1
        if not out:
            return {}
        who, start, end, care, first = (np.concatenate(x) for x in zip(*out))
        return {"who": who, "start": start, "end": end, "care": care, "first": first}

    def _episode_care(self, who: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Care level of a follow-up episode: never more intensive than the course's level."""
        kind = self.unit_kind[self.c_unit[who]]
        level = self.c_level[who]
        return np.select(
            [kind == "ARR1", kind == "ARR2", level == 2],
            [np.where(u < 0.5, 1, 3), np.full(len(u), 2), np.where(u < np.where(kind == "HOA1", 0.15, 0.05), 2, 3)],
            3,
        )

    # -- NAV measures -------------------------------------------------------------------------------
    def _measure_types(self, who: np.ndarray, year: int) -> np.ndarray:
        g = self.grp[who]
        ips = self.ku("measure_ips", who) < np.where(g == 1, P.MEASURE_IPS_P[1], P.MEASURE_IPS_P[0])
        young = year - self.birth_year[who] <= 29
        ung = self.ku("measure_ung", who) < P.IPS_UNG_SHARE
        other = 2 + _kpick(self.ku("measure_type", who), [t[1] for t in P.MEASURE_TYPES])
        mtype = np.where(ips, np.where(young & ung, 1, 0), other)
        unknown = self.ku("measure_unknown", who) < P.MEASURE_UNKNOWN_TYPE
        code = len(MEASURE_CODES) - 1 - (self.ku("measure_unknown_code", who)
                                         * len(P.UNKNOWN_MEASURE_TYPES)).astype(np.int64)
        return np.where(unknown, code, mtype)

    def _start_measures(self, who: np.ndarray, mtype: np.ndarray, d0: int, d1: int):
        if not len(who):
            return
        start = d0 + (self.ku("measure_day", who) * (d1 - d0 + 1)).astype(np.int64)
        lo, hi = _MONTHS_LO[mtype], _MONTHS_HI[mtype]
        months = lo + (self.ku("measure_months", who) * (hi - lo + 1)).astype(np.int64)
        sid = self._ids("spell", who)
        self.m_on[who] = True
        self.m_id[who] = sid
        self.m_type[who] = mtype
        self.m_start[who] = start
        self.m_end[who] = start + (months * 30.44).astype(np.int64) - 1
        mental = self.grp[who] == 1
        self.m_mult[who] = np.where(_IPS[mtype], np.where(mental, P.IPS_EFFECT[1], P.IPS_EFFECT[0]),
                                    _MEASURE_MULT[mtype])
        wo = who[_WORK_ORIENTED[mtype]]
        self.m_last_start[wo] = self.mi
        self.measure_events.append((sid, who.copy(), mtype.copy(), start, np.full(len(who), NONE)))

    def _measure_ends(self, d0, d1, age_m):
        """Spells end at their planned end, at death (that day) or at 67 (month end)."""
        on = np.flatnonzero(self.m_on)
        dead = self.death[on] >= 0
        retired = age_m[on] >= 67 * 12
        end = self.m_end[on]
        stop = np.where(dead, np.minimum(end, self.death[on]), np.where(retired, np.minimum(end, d1), end))
        stop = np.maximum(stop, self.m_start[on])
        ends = stop <= d1
        e = on[ends]
        self.measure_events.append((self.m_id[e].copy(), e, self.m_type[e].copy(), self.m_start[e].copy(), stop[ends]))
        self.m_on[e] = False
        self.m_eff_until[e] = self.mi + P.EFFECT_AFTER_MONTHS
        wo = e[_WORK_ORIENTED[self.m_type[e]]]
        self.m_end_mi[wo] = self.mi

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
        # a certificate reaches at most to the end of the next month, whose hazard can then still
        # end the case within that month
        reach = month_days(np.datetime64(d1 + 1, "D").astype("datetime64[M]"))[1]
        who = np.flatnonzero((self.sick_start >= 0) & (self.sick_next <= d1))
        r = 0
        while len(who):
            s = self.sick_next[who]
            first = s == self.sick_start[who]
            n = len(who)
            u = self.ku(f"cert_length{r}", who)
            length = np.where(first, 3 + (u * 14).astype(np.int64), 14 + (u * 18).astype(np.int64))
            e = np.minimum(np.minimum(s + length - 1, self.sick_end[who]), reach)
            regrade = ~first & (rng.random(n) < 0.2)
            self.sick_grade[who[regrade]] = self._draw_grade(int(regrade.sum()))
            # a case begun before the first generated month (the opening stock): its first
            # delivered certificate is the first the registers (and the marts) see of it
            opening = ~first & (self.mi == self.mi0) & (self.sick_start[who] < d0)
            parts.append((who.copy(), s.copy(), e.copy(), self.sick_grade[who].copy(), first, opening))
            self.cert_end[who] = np.maximum(self.cert_end[who], e)
            u = self.ku(f"cert_gap{r}", who)
            gap = np.where(u < P.SICK_CERT_GAP, 1 + (u / P.SICK_CERT_GAP * 16).astype(np.int64), 0)
            self.sick_next[who] = e + 1 + gap
            closed = self.sick_next[who] > self.sick_end[who]
            self._close_cases(who[closed], d0, d1)
            # relapses opened by the closing may start within this month: keep them in the loop
            who = who[(self.sick_start[who] >= 0) & (self.sick_next[who] >= 0) & (self.sick_next[who] <= d1)]
            r += 1
        cols = ["certificate_id", "person_id", "start_date", "end_date", "grade", "diagnosis_system",
                "diagnosis_code"]
        empty = (np.zeros(0, np.int64),) * 4 + (pa.array([], pa.string()),)
        self._cert_groups = (np.zeros(0, np.int64), np.zeros(0, np.int8))
        if not parts:
            self.month_certs = empty
            return _empty("nav_sickleave", cols)
        who, s, e, g, first, opening = (np.concatenate(x) for x in zip(*parts))
        order = np.lexsort((who, s))
        who, s, e, g, first, opening = who[order], s[order], e[order], g[order], first[order], opening[order]
        missing = rng.random(len(who)) < P.SICK_MISSING_DIAGNOSIS
        # the case's diagnosis as delivered is its first delivered certificate's (for the truth's
        # diagnosis_group): the case's first, or an opening case's earliest of the first month
        _, earliest = np.unique(who[opening], return_index=True)
        dx = np.concatenate([np.flatnonzero(opening)[earliest], np.flatnonzero(first)])
        self.case_dx[who[dx]] = np.where(missing[dx], _UNKNOWN_DX, self.sick_group[who[dx]])
        self._cert_groups = (who, self.sick_group[who].astype(np.int8))
        keep = self.shadow[who] == 0
        who, s, e, g, missing = who[keep], s[keep], e[keep], g[keep], missing[keep]
        if not len(who):
            self.month_certs = empty
            return _empty("nav_sickleave", cols)
        system = self.sick_system[who]
        code = self._sick_codes[0].take(pa.array(np.where(system == 0, self.sick_code[who], 0)))
        code_icd = self._sick_codes[1].take(pa.array(np.where(system == 1, self.sick_code[who], 0)))
        code = pc.if_else(pa.array(system == 1), code_icd, code)
        code = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), code)
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
        end = self.sick_end[who].copy()
        # a case the hazard did not end reached the 52-week limit: most continue on AAP
        limit = ~self.sick_dec[who]
        to_aap = (limit & (self.ku("limit_aap", who) < P.SICK_LONG_TO_AAP) & (self.death[who] < 0)
                  & (self.aap_id[who] < 0))
        a = who[to_aap]
        self._new_aap(a, end[to_aap] + 1)
        self._fire(a[self.ku("aap_job", a) < P.AAP_LOSES_JOB])
        self.sick_start[who] = NONE
        self.sick_end[who] = NONE
        self.sick_next[who] = NONE
        self.sick_dec[who] = False
        # relapse: a new case more than 16 days after the end (a new case under the 16-day rule)
        rel = (~to_aap & (self.death[who] < 0) & (self.emp1[who] >= 0) & ~self.c_on[who]
               & (self.ku("relapse", who) < P.SICK_RELAPSE))
        r = who[rel]
        self._new_case(r, end[rel] + 17 + (self.ku("relapse_day", r) * 74).astype(np.int64),
                       group=self.sick_group[r].astype(np.int64))

    def _npr(self, d0, d1, adult, age_m) -> pa.Table:
        rng = self.rng
        c = self.codes
        # background episodes
        n = int(rng.poisson(P.NPR_BACKGROUND_PER_MONTH * self.scale))
        w = adult * (1 + (age_m - 18 * 12) / (40 * 12)) * (
            1 + 2 * ((self.sick_start >= 0) | (self.aap_id >= 0) | (self.dis_id >= 0)))
        bw = np.where(adult & (self.shadow == 0), w, 0.0)
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
            keep = self.shadow[ce["who"]] == 0  # twins' episodes are never delivered
            if keep.any():
                parts.append(self._course_rows({k: v[keep] for k, v in ce.items()}))
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
        real = self.shadow == 0
        p1 = np.flatnonzero((self.emp1 >= 0) & real)
        p2 = np.flatnonzero((self.emp2 >= 0) & real)
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
        real = self.shadow[arrs[1]] == 0  # twins' decisions are never delivered
        arrs = [a[real] for a in arrs]
        if not len(arrs[0]):
            return _empty("nav_disability" if with_grade else "nav_aap", cols)
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
