"""A plain-Python reference implementation of docs/definitions.md, to check the marts.

Written independently of the SQL, as directly as the definitions read: loops per person, a
day-range test per person and month, no window functions. It reads ``raw`` and ``audit`` from
a warehouse file and the code lists from ``dbt_project/seeds``, and returns the six public
tables as lists of dicts. ``compare(con)`` diffs them against ``marts.*`` and returns the
differences (an empty list when every row and value agrees).

Used by test_dbt_reference.py and test_dbt_build.py on a random warehouse, and by hand on a generated one:
``python tests/dbt/reference_marts.py <warehouse.duckdb>``.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import duckdb

from workhealth.core.definitions import (
    COURSE_CHAIN_GAP_DAYS,
    ERA_CHANGE_DATE,
    FOLLOW_UP_MONTHS,
    HRB_FOLLOW_UP_MONTH,
    SICK_LEAVE_CHAIN_GAP_DAYS,
    TRAJECTORY_OFFSETS,
)

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
MONTHLY = ("npr_episodes", "nav_sickleave", "nav_aap", "nav_disability", "aareg_employment")
ICD10_PATTERN = re.compile(r"[A-Z][0-9]{2}[0-9A-Z]{0,2}")
HRB = {"UFOR", "AAP", "SYK"}


def _seed(name: str) -> list[dict]:
    with open(SEEDS / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def add_months(month: date, k: int) -> date:
    n = month.year * 12 + month.month - 1 + k
    return date(n // 12, n % 12 + 1, 1)


def month_of(d: date) -> date:
    return d.replace(day=1)


def month_end(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _blank(v):
    return None if v == "" else v


def load(con) -> dict:
    """Staging as the contract reads: accepted deliveries only, newest state per key."""
    accepted = {r["delivery"] for r in _rows(con, "select delivery, status from audit.deliveries")
                if r["status"] == "accepted"}

    def newest(table: str, key: str) -> list[dict]:
        best: dict = {}
        for r in _rows(con, f"select * from raw.{table}"):
            if r["_delivery"] not in accepted:
                continue
            # the newest delivered state: highest period, then version (file and row, last
            # written wins, only make the order total; accepted deliveries never tie before)
            rank = (r["_period"], r["_version"], r["_file"], r["_row"])
            if r[key] not in best or rank > best[r[key]][0]:
                best[r[key]] = (rank, {k: _blank(v) for k, v in r.items()})
        return [v for _, v in best.values()]

    deliveries = _rows(con, "select register, period, status from audit.deliveries")
    return {
        "deliveries": deliveries,
        "persons": newest("population", "person_id"),
        "episodes": newest("npr_episodes", "episode_id"),
        "certificates": newest("nav_sickleave", "certificate_id"),
        "aap": newest("nav_aap", "decision_id"),
        "disability": newest("nav_disability", "decision_id"),
        "employment": [r for r in _rows(con, "select * from raw.aareg_employment") if r["_delivery"] in accepted],
    }


def horizon(deliveries: list[dict]) -> tuple[date | None, date | None]:
    have = defaultdict(set)
    for d in deliveries:
        if d["status"] == "accepted" and d["register"] in MONTHLY:
            have[date.fromisoformat(d["period"] + "-01")].add(d["register"])
    if not have:
        return None, None
    first = min(have)
    month, last_complete = first, None
    while len(have.get(month, ())) == len(MONTHLY):
        last_complete, month = month, add_months(month, 1)
    return first, last_complete


def _covers(start: date, end: date | None, month: date) -> bool:
    """The interval covers at least one day of the month (no end = open; end < start = no day)."""
    if end is not None and end < start:
        return False
    return start <= month_end(month) and (end is None or end >= month)


def person_months(data: dict, first: date, last: date) -> dict:
    by_person = defaultdict(lambda: defaultdict(list))
    for state, key in (("UFOR", "disability"), ("AAP", "aap"), ("SYK", "certificates")):
        for r in data[key]:
            by_person[r["person_id"]][state].append((r["start_date"], r["end_date"]))
    fte = defaultdict(float)
    for r in data["employment"]:
        fte[(r["person_id"], r["month"])] += r["fte_pct"] or 0.0
    months = []
    m = first
    while m <= last:
        months.append(m)
        m = add_months(m, 1)
    out = {}
    for p in data["persons"]:
        pid, death = p["person_id"], p["death_date"]
        for m in months:
            if death is not None and death < m:
                state = "DEAD"
            else:
                state = next((s for s in ("UFOR", "AAP", "SYK")
                              if any(_covers(a, b, m) for a, b in by_person[pid][s])), None)
                if state is None:
                    state = "WORK" if fte[(pid, m)] > 0 else "NONE"
            out[(pid, m)] = state
    return out


def _chain(items: list[dict], gap: int) -> list[list[dict]]:
    """Items of one person (and trust) sorted; joins while start <= latest end so far + gap."""
    groups: list[list[dict]] = []
    latest = None
    for it in items:
        if groups and it["start_date"] <= latest + timedelta(days=gap):
            groups[-1].append(it)
            latest = max(latest, it["end_date"])
        else:
            groups.append([it])
            latest = it["end_date"]
    return groups


def _case_group(system: str | None, code: str | None, categories: set, icpc2: set) -> str:
    """A certificate's diagnosis group, judged in its own system."""
    if system == "ICPC2" and code in icpc2:
        return {"L": "MSK", "P": "MENTAL"}.get(code[0], "OTHER")
    if system == "ICD10" and code and re.fullmatch(r"[A-Z][0-9]{2}[0-9A-Z]{0,2}", code) and code[:3] in categories:
        return {"M": "MSK", "F": "MENTAL"}.get(code[0], "OTHER")
    return "UNKNOWN"


def sick_leave_cases(data: dict, last: date) -> list[dict]:
    categories = {r["category"] for r in _seed("icd10_categories")}
    icpc2 = {r["code"] for r in _seed("icpc2_codes")}
    per_person = defaultdict(list)
    for c in data["certificates"]:
        if c["start_date"] <= month_end(last):
            per_person[c["person_id"]].append(c)
    cases = []
    for pid, certs in per_person.items():
        certs.sort(key=lambda c: (c["start_date"], c["certificate_id"]))
        for g in _chain(certs, SICK_LEAVE_CHAIN_GAP_DAYS):
            cases.append({
                "case_id": g[0]["certificate_id"], "person_id": pid,
                "case_start": min(c["start_date"] for c in g), "case_end": max(c["end_date"] for c in g),
                "n_certificates": len(g), "diagnosis_system": g[0]["diagnosis_system"],
                "diagnosis_code": g[0]["diagnosis_code"],
                "diagnosis_group": _case_group(g[0]["diagnosis_system"], g[0]["diagnosis_code"], categories, icpc2),
            })
    return cases


def classify(e: dict, procedures: set, categories: set, units: list[dict]) -> dict:
    codes = (e["procedure_codes"] or "").split("|") if e["procedure_codes"] else []
    dx = e["main_diagnosis"]
    valid = dx is not None and ICD10_PATTERN.fullmatch(dx) is not None and dx[:3] in categories
    group = ("MSK" if dx[0] == "M" else "MENTAL" if dx[0] == "F" else "OTHER") if valid else "UNKNOWN"
    at_unit = any(u["unit_id"] == e["unit_id"] and date.fromisoformat(u["valid_from"]) <= e["end_date"]
                  and (not u["valid_to"] or e["end_date"] <= date.fromisoformat(u["valid_to"])) for u in units)
    return {"work_related": any(c in procedures for c in codes) or e["debitor"] == 20,
            "valid": valid, "group": group, "at_unit": at_unit}


def courses(data: dict, last: date, pm: dict, cases: list[dict]) -> list[dict]:
    procedures = {r["code"] for r in _seed("work_related_procedures")}
    categories = {r["category"] for r in _seed("icd10_categories")}
    units = _seed("work_units")
    rhf = {r["health_trust"]: r["rhf"] for r in _seed("health_trusts")}
    # care level: the listed code of the lowest intensity_rank; unlisted codes are ignored
    rank = {int(r["care_level"]): int(r["intensity_rank"]) for r in _seed("care_levels")}
    cases_of = defaultdict(list)
    for c in cases:
        cases_of[c["person_id"]].append(c)
    groups = defaultdict(list)
    for e in data["episodes"]:
        cls = classify(e, procedures, categories, units)
        if cls["work_related"] and e["end_date"] <= month_end(last):
            groups[(e["person_id"], e["health_trust"])].append({**e, **cls})
    out = []
    for (pid, trust), eps in groups.items():
        eps.sort(key=lambda e: (e["start_date"], e["episode_id"]))
        for g in _chain(eps, COURSE_CHAIN_GAP_DAYS):
            first = g[0]
            start, end = min(e["start_date"] for e in g), max(e["end_date"] for e in g)
            ref = first["referral_date"]
            covering = [c for c in cases_of[pid] if c["case_start"] <= start <= c["case_end"]]
            assert len(covering) <= 1
            listed = [e["care_level"] for e in g if e["care_level"] in rank]
            row = {
                "course_id": first["episode_id"], "person_id": pid, "health_trust": trust,
                "rhf": rhf.get(trust, "UNKNOWN"), "course_start": start, "course_end": end, "n_episodes": len(g),
                "care_level": min(listed, key=rank.__getitem__) if listed else None,
                "main_diagnosis": first["main_diagnosis"],
                "diagnosis_group": first["group"],
                "era": "RASKERE_TILBAKE" if start < ERA_CHANGE_DATE else "HELSE_OG_ARBEID",
                "referral_date": ref,
                "waiting_days": (first["start_date"] - ref).days if ref is not None and ref <= first["start_date"] else None,
                "on_sick_leave_at_start": bool(covering),
                "sick_leave_days_at_start": (start - covering[0]["case_start"]).days if covering else None,
            }
            for k in FOLLOW_UP_MONTHS:
                state = pm.get((pid, add_months(month_of(end), k)))
                row[f"state_{k}m"] = state
                row[f"rtw_{k}m"] = None if state is None else state == "WORK"
            hrb = row[f"state_{HRB_FOLLOW_UP_MONTH}m"]
            row[f"hrb_{HRB_FOLLOW_UP_MONTH}m"] = None if hrb is None else hrb in HRB
            out.append(row)
    return out


def trajectories(course_rows: list[dict], pm: dict) -> list[dict]:
    out = []
    for c in course_rows:
        for t in TRAJECTORY_OFFSETS:
            m = add_months(month_of(c["course_start"]), t)
            if (c["person_id"], m) in pm:
                out.append({"course_id": c["course_id"], "month_offset": t, "month": m, "state": pm[(c["person_id"], m)]})
    return out


def coding_quality(data: dict) -> list[dict]:
    procedures = {r["code"] for r in _seed("work_related_procedures")}
    categories = {r["category"] for r in _seed("icd10_categories")}
    units = _seed("work_units")
    trusts = {r["health_trust"] for r in _seed("health_trusts")}
    care_levels = {int(r["care_level"]) for r in _seed("care_levels")}
    cells = defaultdict(lambda: defaultdict(int))
    for e in data["episodes"]:
        cls = classify(e, procedures, categories, units)
        n = cells[(e["health_trust"], month_of(e["end_date"]))]
        n["n_episodes"] += 1
        n["n_work_related"] += cls["work_related"]
        n["n_invalid_main_diagnosis"] += not cls["valid"]
        n["n_missing_referral"] += e["referral_date"] is None
        n["n_referral_after_start"] += e["referral_date"] is not None and e["referral_date"] > e["start_date"]
        n["n_end_before_start"] += e["end_date"] < e["start_date"]
        n["n_work_unit_episodes"] += cls["at_unit"]
        n["n_work_unit_not_work_related"] += cls["at_unit"] and not cls["work_related"]
        n["n_unknown_health_trust"] += e["health_trust"] not in trusts
        n["n_unknown_care_level"] += e["care_level"] not in care_levels
        n["n_unknown_unit"] += not (e["unit_id"] or "").startswith(e["health_trust"] + "-")
    rates = {"work_related": ("n_work_related", "n_episodes"),
             "invalid_main_diagnosis": ("n_invalid_main_diagnosis", "n_episodes"),
             "missing_referral": ("n_missing_referral", "n_episodes"),
             "referral_after_start": ("n_referral_after_start", "n_episodes"),
             "end_before_start": ("n_end_before_start", "n_episodes"),
             "work_unit_not_work_related": ("n_work_unit_not_work_related", "n_work_unit_episodes"),
             "unknown_health_trust": ("n_unknown_health_trust", "n_episodes"),
             "unknown_care_level": ("n_unknown_care_level", "n_episodes"),
             "unknown_unit": ("n_unknown_unit", "n_episodes")}

    def rate(n, name):
        num, den = rates[name]
        return n[num] / n[den] if n.get(den) else None

    out = []
    for (trust, m), n in cells.items():
        counts = ("n_episodes", "n_work_related", "n_invalid_main_diagnosis", "n_missing_referral",
                  "n_referral_after_start", "n_end_before_start", "n_work_unit_episodes",
                  "n_work_unit_not_work_related", "n_unknown_health_trust", "n_unknown_care_level", "n_unknown_unit")
        row = {"health_trust": trust, "month": m, **{k: n[k] for k in counts}}
        # the definitions' names (section 5): each count without n_
        row.update({k[2:]: n[k] for k in counts if k not in ("n_episodes", "n_work_related")})
        prev = cells.get((trust, add_months(m, -1)))
        for name in rates:
            row[f"{name}_rate"] = rate(n, name)
            before = rate(prev, name) if prev else None
            row[f"{name}_rate_change"] = (None if before is None or row[f"{name}_rate"] is None
                                          else row[f"{name}_rate"] - before)
        row["work_unit_gap_rate"] = row["work_unit_not_work_related_rate"]
        row["work_unit_gap_rate_change"] = row["work_unit_not_work_related_rate_change"]
        out.append(row)
    return out


def persons(data: dict) -> list[dict]:
    """dim_person's geography: county = the first two digits of a 4-digit municipality when they
    are a listed county, else UNKNOWN (and so its RHF)."""
    rhf_of = {r["county"]: r["rhf"] for r in _seed("counties")}
    out = []
    for p in data["persons"]:
        muni = p["municipality"] or ""
        county = muni[:2] if re.fullmatch(r"[0-9]{4}", muni) and muni[:2] in rhf_of else "UNKNOWN"
        out.append({"person_id": p["person_id"], "municipality": p["municipality"], "county": county,
                    "rhf_of_residence": rhf_of.get(county, "UNKNOWN")})
    return out


def compute(con) -> dict:
    data = load(con)
    first, last = horizon(data["deliveries"])
    pm = person_months(data, first, last) if last else {}
    cases = sick_leave_cases(data, last) if last else []
    course_rows = courses(data, last, pm, cases) if last else []
    return {
        "horizon": (first, last),
        "dim_person": persons(data),
        "fct_person_month": [{"person_id": p, "month": m, "state": s} for (p, m), s in pm.items()],
        "fct_sick_leave_cases": cases,
        "fct_treatment_courses": course_rows,
        "fct_course_trajectories": trajectories(course_rows, pm),
        "coding_quality_monthly": coding_quality(data),
    }


KEYS = {
    "dim_person": ("person_id",),
    "fct_person_month": ("person_id", "month"),
    "fct_sick_leave_cases": ("case_id",),
    "fct_treatment_courses": ("course_id",),
    "fct_course_trajectories": ("course_id", "month_offset"),
    "coding_quality_monthly": ("health_trust", "month"),
}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def compare(con, limit: int = 20) -> list[str]:
    """Differences between the reference and marts.* (at most ``limit`` per table)."""
    ref = compute(con)
    diffs = []
    got_h = con.execute("select first_month, horizon_month from intermediate.int_data_horizons_computed").fetchall()
    if got_h != ([ref["horizon"]] if ref["horizon"][0] else []):
        diffs.append(f"horizon: marts {got_h} reference {ref['horizon']}")
    for table, key in KEYS.items():
        expected = {tuple(r[k] for k in key): r for r in ref[table]}
        actual = {tuple(r[k] for k in key): r for r in _rows(con, f"select * from marts.{table}")}
        found = []
        for k in sorted(set(expected) | set(actual), key=str):
            if k not in actual:
                found.append(f"{table} {k}: missing from marts")
            elif k not in expected:
                found.append(f"{table} {k}: not in reference")
            else:
                for col, v in expected[k].items():
                    if not _same(v, actual[k][col]):
                        found.append(f"{table} {k}.{col}: marts {actual[k][col]!r} reference {v!r}")
        diffs += found[:limit] + ([f"{table}: {len(found) - limit} more"] if len(found) > limit else [])
        if len(actual) != len(_rows(con, f"select 1 from marts.{table}")):
            diffs.append(f"{table}: duplicate keys in marts")
    return diffs


if __name__ == "__main__":
    connection = duckdb.connect(sys.argv[1], read_only=True)
    problems = compare(connection)
    print("\n".join(problems) or "marts agree with the reference implementation")
    sys.exit(1 if problems else 0)
