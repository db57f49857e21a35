"""An independent recomputation of the marts from the *archived raw delivery files*.

Used by ``test_independent_check.py``. It shares nothing with the SQL nor with
``reference_marts.py`` (which reads the warehouse's ``raw`` schema): it reads the archived
delivery folders byte for byte (``csv`` + ``gzip``), decides itself which version of each
register and period counts, and follows docs/definitions.md (data horizon, person-month
states, sick-leave cases, treatment courses, including the choices made there):

- a correction (higher version) replaces the lower version of the same register and period;
- episodes / certificates: the newest delivered row per id (highest period, then version);
- AAP / disability decisions: the newest delivered state per decision_id;
- population: later snapshots supersede earlier ones person by person;
- horizon: the last month M with all five monthly registers delivered for every month
  first_month..M;
- "as known at the horizon": courses use only work-related episodes ending on or before the
  last day of the horizon month, sick-leave cases only certificates starting on or before it;
- a decision or certificate whose end_date is before its start_date covers no day;
- case_id = first certificate id, course_id = first episode id (ties by id);
- measure spells: the newest delivered state per spell_id; contacts: the newest delivered row per
  contact_id; age group and the cooperation attributes of a course as docs/definitions.md says
  (a window is judged only when its last month is not after the horizon and every month of it
  has a delivery of its register).

Plain loops, plain dates, no DuckDB.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from workhealth.core.definitions import (
    COURSE_CHAIN_GAP_DAYS,
    ERA_CHANGE_DATE,
    FOLLOW_UP_MONTHS,
    HRB_FOLLOW_UP_MONTH,
    SICK_LEAVE_CHAIN_GAP_DAYS,
)

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
MONTHLY = ("npr_episodes", "nav_sickleave", "nav_aap", "nav_disability", "aareg_employment")
CROSS_SECTOR = ("nav_measures", "kpr_contacts")
REGISTERS = MONTHLY + CROSS_SECTOR + ("population",)
FOLDER = re.compile(r"^(?P<register>[a-z_]+)_(?P<period>\d{4}-\d{2})_v(?P<version>\d+)$")
ICD10 = re.compile(r"[A-Z][0-9]{2}[0-9A-Z]{0,2}")
HRB = frozenset({"UFOR", "AAP", "SYK"})
# The constants come from the one place they are defined (dbt_project.yml vars).
ERA_SWITCH = ERA_CHANGE_DATE
SICK_LEAVE_GAP = SICK_LEAVE_CHAIN_GAP_DAYS
COURSE_GAP = COURSE_CHAIN_GAP_DAYS


# --------------------------------------------------------------------------- small date helpers
def d(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def month_start(value: date) -> date:
    return value.replace(day=1)


def add_months(month: date, k: int) -> date:
    n = month.year * 12 + month.month - 1 + k
    return date(n // 12, n % 12 + 1, 1)


def month_last_day(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


def period_month(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


# --------------------------------------------------------------------------- reading the archive
def seed(name: str) -> list[dict]:
    with open(SEEDS / f"{name}.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter=";"))


def read_delivery(folder: Path) -> list[dict]:
    """Every data row of one archived delivery (the files its manifest lists), '' as None."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    rows: list[dict] = []
    for entry in manifest["files"]:
        path = folder / entry["path"]
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
        elif not path.name.endswith(".csv"):
            raise ValueError(f"{path}: only CSV deliveries are read by the independent check")
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""), delimiter=";", quotechar='"')
        part = [{k: (v if v != "" else None) for k, v in r.items()} for r in reader]
        assert len(part) == entry["rows"], f"{path}: {len(part)} rows, manifest says {entry['rows']}"
        rows.extend(part)
    return rows


def archived_deliveries(archive: Path) -> dict[tuple[str, str], tuple[int, Path]]:
    """(register, period) -> (version, folder) of the delivery that counts: the highest version."""
    best: dict[tuple[str, str], tuple[int, Path]] = {}
    for folder in sorted(p for p in archive.iterdir() if p.is_dir()):
        m = FOLDER.match(folder.name)
        if not m or m["register"] not in REGISTERS or not (folder / "manifest.json").exists():
            continue
        key, version = (m["register"], m["period"]), int(m["version"])
        if key not in best or version > best[key][0]:
            best[key] = (version, folder)
    return best


def load(archive: Path) -> dict:
    """The registers as the contract says they are to be read (see module docstring)."""
    chosen = archived_deliveries(archive)
    by_register: dict[str, list[tuple[str, int, list[dict]]]] = defaultdict(list)
    for (register, period), (version, folder) in sorted(chosen.items()):
        by_register[register].append((period, version, read_delivery(folder)))

    def newest(register: str, key: str) -> dict[str, dict]:
        out: dict[str, tuple[tuple[str, int], dict]] = {}
        for period, version, rows in by_register[register]:
            for r in rows:
                if r[key] not in out or (period, version) >= out[r[key]][0]:
                    out[r[key]] = ((period, version), r)
        return {k: v for k, (_, v) in out.items()}

    persons: dict[str, dict] = {}
    for _period, _version, rows in sorted(by_register["population"], key=lambda t: (t[0], t[1])):
        for r in rows:  # a later snapshot supersedes person by person
            persons[r["person_id"]] = r

    periods = {reg: {p for p, _, _ in by_register[reg]} for reg in MONTHLY}
    cross_periods = {reg: {p for p, _, _ in by_register[reg]} for reg in CROSS_SECTOR}
    return {
        "chosen": {f"{reg}_{per}_v{ver}" for (reg, per), (ver, _) in chosen.items()},
        "periods": periods,
        "cross_periods": cross_periods,
        "spells": list(newest("nav_measures", "spell_id").values()),
        "contacts": list(newest("kpr_contacts", "contact_id").values()),
        "persons": persons,
        "episodes": list(newest("npr_episodes", "episode_id").values()),
        "certificates": list(newest("nav_sickleave", "certificate_id").values()),
        "aap": list(newest("nav_aap", "decision_id").values()),
        "disability": list(newest("nav_disability", "decision_id").values()),
        "employment": [r for _, _, rows in by_register["aareg_employment"] for r in rows],
    }


# --------------------------------------------------------------------------- geography of residence
def person_geography(data: dict) -> dict[str, tuple[str, str]]:
    """person_id -> (county, rhf_of_residence): the first two digits of a 4-digit municipality
    when they are a county of the code list; otherwise UNKNOWN for both, never a made-up county."""
    rhf_of = {r["county"]: r["rhf"] for r in seed("counties")}
    out = {}
    for pid, p in data["persons"].items():
        muni = p["municipality"] or ""
        county = muni[:2] if len(muni) == 4 and muni.isascii() and muni.isdigit() and muni[:2] in rhf_of else "UNKNOWN"
        out[pid] = (county, rhf_of.get(county, "UNKNOWN"))
    return out


# --------------------------------------------------------------------------- horizon
def horizon(periods: dict[str, set[str]]) -> tuple[date, date | None]:
    """(first_month, horizon_month); horizon None when the first month lacks a register."""
    every = set().union(*periods.values())
    first = period_month(min(every))
    month, last = first, None
    while all(f"{month:%Y-%m}" in periods[reg] for reg in MONTHLY):
        last = month
        month = add_months(month, 1)
    return first, last


# --------------------------------------------------------------------------- 1. person-month states
def _covers(start: date, end: date | None, month: date) -> bool:
    """A span covers at least one day of the month (no end: open; end before start: no day)."""
    if end is not None and end < start:
        return False
    return start <= month_last_day(month) and (end is None or end >= month)


def person_months(data: dict, first: date, last: date) -> dict[tuple[str, date], str]:
    months = []
    m = first
    while m <= last:
        months.append(m)
        m = add_months(m, 1)

    spans: dict[str, dict[str, list]] = {"UFOR": defaultdict(list), "AAP": defaultdict(list),
                                         "SYK": defaultdict(list)}
    for state, rows in (("UFOR", data["disability"]), ("AAP", data["aap"]), ("SYK", data["certificates"])):
        for r in rows:
            spans[state][r["person_id"]].append((d(r["start_date"]), d(r["end_date"])))
    fte: dict[tuple[str, date], float] = defaultdict(float)
    for r in data["employment"]:
        fte[(r["person_id"], period_month(r["month"]))] += float(r["fte_pct"])

    out: dict[tuple[str, date], str] = {}
    for pid, person in data["persons"].items():
        death = d(person["death_date"])
        for month in months:
            if death is not None and death < month:
                state = "DEAD"
            elif any(_covers(s, e, month) for s, e in spans["UFOR"].get(pid, ())):
                state = "UFOR"
            elif any(_covers(s, e, month) for s, e in spans["AAP"].get(pid, ())):
                state = "AAP"
            elif any(_covers(s, e, month) for s, e in spans["SYK"].get(pid, ())):
                state = "SYK"
            elif fte.get((pid, month), 0.0) > 0:
                state = "WORK"
            else:
                state = "NONE"
            out[(pid, month)] = state
    return out


# --------------------------------------------------------------------------- 2. sick-leave cases
def sick_leave_cases(data: dict, last: date) -> list[dict]:
    cutoff = month_last_day(last)
    per_person: dict[str, list[dict]] = defaultdict(list)
    for r in data["certificates"]:
        if d(r["start_date"]) <= cutoff:
            per_person[r["person_id"]].append(r)
    cases: list[dict] = []
    for pid, certs in per_person.items():
        certs.sort(key=lambda r: (d(r["start_date"]), r["certificate_id"]))
        current = None
        for r in certs:
            start, end = d(r["start_date"]), d(r["end_date"])
            if current is not None and start <= current["case_end"] + timedelta(days=SICK_LEAVE_GAP):
                current["case_end"] = max(current["case_end"], end)
                current["n_certificates"] += 1
            else:
                current = {"case_id": r["certificate_id"], "person_id": pid, "case_start": start,
                           "case_end": end, "n_certificates": 1,
                           "diagnosis_system": r["diagnosis_system"], "diagnosis_code": r["diagnosis_code"]}
                cases.append(current)
    return cases


# --------------------------------------------------------------------------- 3. treatment courses
def is_work_related(episode: dict, work_codes: set[str]) -> bool:
    codes = (episode["procedure_codes"] or "").split("|")
    return any(c in work_codes for c in codes) or (episode["debitor"] is not None and int(episode["debitor"]) == 20)


def diagnosis_group(code: str | None, categories: set[str]) -> str:
    if code is None or not ICD10.fullmatch(code) or code[:3] not in categories:
        return "UNKNOWN"
    return {"M": "MSK", "F": "MENTAL"}.get(code[0], "OTHER")


def treatment_courses(data: dict, first: date, last: date, states: dict, cases: list[dict]) -> list[dict]:
    work_codes = {r["code"] for r in seed("work_related_procedures")}
    rhf_of = {r["health_trust"]: r["rhf"] for r in seed("health_trusts")}
    categories = {r["category"] for r in seed("icd10_categories")}
    # the most intensive care level: lowest intensity_rank of the code list; unlisted codes ignored
    intensity = {int(r["care_level"]): int(r["intensity_rank"]) for r in seed("care_levels")}
    cutoff = month_last_day(last)

    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in data["episodes"]:
        if d(e["end_date"]) <= cutoff and is_work_related(e, work_codes):
            groups[(e["person_id"], e["health_trust"])].append(e)

    cases_of: dict[str, list[dict]] = defaultdict(list)
    for c in cases:
        cases_of[c["person_id"]].append(c)

    courses: list[dict] = []
    for (pid, trust), episodes in groups.items():
        episodes.sort(key=lambda e: (d(e["start_date"]), e["episode_id"]))
        chains: list[list[dict]] = []
        running_max = None
        for e in episodes:
            start, end = d(e["start_date"]), d(e["end_date"])
            if chains and start <= running_max + timedelta(days=COURSE_GAP):
                chains[-1].append(e)
                running_max = max(running_max, end)
            else:
                chains.append([e])
                running_max = end
        for chain in chains:
            head = chain[0]
            start = min(d(e["start_date"]) for e in chain)
            end = max(d(e["end_date"]) for e in chain)
            referral = d(head["referral_date"])
            head_start = d(head["start_date"])
            covering = [c for c in cases_of.get(pid, ()) if c["case_start"] <= start <= c["case_end"]]
            assert len(covering) <= 1, f"overlapping sick-leave cases of {pid}"
            case = covering[0] if covering else None
            listed = sorted((intensity[int(e["care_level"])], int(e["care_level"])) for e in chain
                            if int(e["care_level"]) in intensity)
            row = {
                "course_id": head["episode_id"], "person_id": pid, "health_trust": trust,
                "rhf": rhf_of.get(trust, "UNKNOWN"), "course_start": start, "course_end": end,
                "n_episodes": len(chain), "care_level": listed[0][1] if listed else None,
                "main_diagnosis": head["main_diagnosis"],
                "diagnosis_group": diagnosis_group(head["main_diagnosis"], categories),
                "era": "RASKERE_TILBAKE" if start < ERA_SWITCH else "HELSE_OG_ARBEID",
                "referral_date": referral,
                "waiting_days": (head_start - referral).days if referral is not None and referral <= head_start
                else None,
                "on_sick_leave_at_start": case is not None,
                "sick_leave_days_at_start": (start - case["case_start"]).days if case else None,
                "sick_leave_case_id": case["case_id"] if case else None,
            }
            for k in FOLLOW_UP_MONTHS:
                month = add_months(month_start(end), k)
                state = states.get((pid, month)) if first <= month <= last else None
                row[f"state_{k}m"] = state
                row[f"rtw_{k}m"] = None if state is None else state == "WORK"
            hrb = row[f"state_{HRB_FOLLOW_UP_MONTH}m"]
            row[f"hrb_{HRB_FOLLOW_UP_MONTH}m"] = None if hrb is None else hrb in HRB
            person = data["persons"].get(pid)
            row["age_group"] = age_group(person["birth_year"] if person else None, start)
            courses.append(row)
    attributes = cooperation(courses, data, last)
    for c in courses:
        c.update(attributes[c["course_id"]])
    return courses


# --------------------------------------------------------------------------- age group, cooperation
def age_group(birth_year: str | None, course_start: date) -> str | None:
    """The band of the age_groups seed holding year(course_start) - birth_year; None outside every band."""
    if birth_year is None:
        return None
    age = course_start.year - int(birth_year)
    for band in seed("age_groups"):
        if int(band["min_age"]) <= age and (not band["max_age"] or age <= int(band["max_age"])):
            return band["age_group"]
    return None


def cooperation(courses: list[dict], data: dict, last: date) -> dict[str, dict[str, bool | None]]:
    """course_id -> the five cooperation attributes, each None when its window's last month is after
    the horizon ``last`` or a month of the window has no delivery of its register."""
    types = {r["measure_type"]: r for r in seed("nav_measure_types")}
    events: dict[str, dict[str, list[date]]] = {a: defaultdict(list) for a in (
        "nav_measure_6m", "ips_12m", "gp", "municipal_mental_health_after_3m")}
    for r in data["spells"]:
        t = types.get(r["measure_type"])
        if t and t["work_oriented"] == "1":
            events["nav_measure_6m"][r["person_id"]].append(d(r["start_date"]))
        if t and t["ips"] == "1":
            events["ips_12m"][r["person_id"]].append(d(r["start_date"]))
    for r in data["contacts"]:
        key = {"GP": "gp", "MENTAL_HEALTH": "municipal_mental_health_after_3m"}.get(r["service"])
        if key:
            events[key][r["person_id"]].append(d(r["contact_date"]))

    def judged(register: str, start: date, end: date, dates: list[date]) -> bool | None:
        month = month_start(start)
        if month_start(end) > last:
            return None
        while month <= end:
            if f"{month:%Y-%m}" not in data["cross_periods"][register]:
                return None
            month = add_months(month, 1)
        return any(start <= x <= end for x in dates)

    out = {}
    for c in courses:
        pid, start, end = c["person_id"], c["course_start"], c["course_end"]
        after = (end + timedelta(days=1), month_last_day(add_months(month_start(end), 3)))
        out[c["course_id"]] = {
            "nav_measure_6m": judged("nav_measures", start, month_last_day(add_months(month_start(end), 6)),
                                     events["nav_measure_6m"].get(pid, [])),
            "ips_12m": judged("nav_measures", start, month_last_day(add_months(month_start(end), 12)),
                              events["ips_12m"].get(pid, [])),
            "gp_before_3m": judged("kpr_contacts", add_months(month_start(start), -3),
                                   month_start(start) - timedelta(days=1), events["gp"].get(pid, [])),
            "gp_after_3m": judged("kpr_contacts", *after, events["gp"].get(pid, [])),
            "municipal_mental_health_after_3m": judged(
                "kpr_contacts", *after, events["municipal_mental_health_after_3m"].get(pid, [])),
        }
    return out
