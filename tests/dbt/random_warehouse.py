"""A random but reproducible warehouse (``raw`` + ``audit``) that hits the definitions' edges.

Where fixture_warehouse.py has a few hand-checked rows, this one has many rows drawn to land
on the boundaries: certificates gap-1 .. gap+2 days after the latest end so far (15-18 with
the 16-day gap), nested and backwards certificates, equal start dates, episodes gap-1 .. gap+2
days apart (89-92) at one or two health trusts,
valid / dotted / lower-case / unknown diagnoses, referrals before / on / after the start,
deaths on the first, middle and last day of a month and before the first delivered month,
decisions redelivered with a new end or made open-ended, persons missing from the population,
corrections that drop and change rows, rejected deliveries, codes outside their code lists
(health trust XX, care level 9, a unit of another trust, municipalities ABCD, 9999, 030 and
03011), and a month after which one
register is missing (so the horizon lies before the last delivered month). test_dbt_reference
builds the marts on it and compares them with reference_marts.py.

``python tests/dbt/random_warehouse.py <path.duckdb> [seed]``.
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import date, timedelta
from pathlib import Path

from fixture_warehouse import create_empty

from workhealth.core.definitions import COURSE_CHAIN_GAP_DAYS, SICK_LEAVE_CHAIN_GAP_DAYS

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"
MONTHLY = ("npr_episodes", "nav_sickleave", "nav_aap", "nav_disability", "aareg_employment")
FIRST, LAST = date(2017, 6, 1), date(2018, 10, 1)
#: nav_aap 2018-08 is rejected and never re-sent: the horizon is 2018-07.
MISSING = ("nav_aap", "2018-08")
DIAGNOSES = ["M545", "F321", "J45", "M54", "F32", "Q999", "U071", "Z000", "M54.5", "m545", "M5A4", "XYZ1",
             "M545AB", "M54A", " M545", None, None]
PROCEDURES = [None, None, "OABI00", "XX01|OABI00", "OABI001", "OBBJ00|OABI00", "ABC12", "oabi00", "OBBJ00"]


def _month(d: date) -> date:
    return d.replace(day=1)


def _add_months(m: date, k: int) -> date:
    n = m.year * 12 + m.month - 1 + k
    return date(n // 12, n % 12 + 1, 1)


def _period(d: date) -> str:
    return d.strftime("%Y-%m")


def _months() -> list[date]:
    out, m = [], FIRST
    while m <= LAST:
        out.append(m)
        m = _add_months(m, 1)
    return out


def _clamp(d: date) -> date:
    return min(max(d, FIRST), _add_months(LAST, 1) - timedelta(days=1))


def create(path: Path, seed: int = 1) -> Path:
    rnd = random.Random(seed)
    with open(SEEDS / "work_units.csv", encoding="utf-8") as f:
        units = [r["unit_id"] for r in csv.DictReader(f, delimiter=";")]
    with open(SEEDS / "counties.csv", encoding="utf-8") as f:
        counties = [r["county"] for r in csv.DictReader(f, delimiter=";")]
    # XX is not in the health_trusts code list: a coding defect, loaded and counted, its
    # courses under rhf UNKNOWN
    trusts = ["AHUS", "OUS", "SI", "XX"]
    persons = [f"{i:016x}" for i in range(1, 121)]
    strangers = [f"{i:016x}" for i in range(900, 905)]  # in other registers, not in the population
    months = _months()
    periods = [_period(m) for m in months]

    # delivery plan per monthly register and period: ok | corrected | resent | rejected
    plan = {}
    for r in MONTHLY:
        for p in periods:
            plan[(r, p)] = rnd.choices(["ok", "corrected", "resent"], [8, 1, 1])[0]
    plan[MISSING] = "rejected"
    rows: dict[str, list[tuple]] = {r: [] for r in (*MONTHLY, "population")}  # (period, version, values)

    def deliver(register: str, period: str, values: tuple, variant: tuple | None = None) -> None:
        """Put a row into the delivery versions of its period per the plan; ``variant`` is the
        row as v1 had it before a correction (None: v1 had the same row)."""
        how = plan[(register, period)]
        if how == "ok":
            rows[register].append((period, 1, values))
        elif how == "corrected":
            rows[register].append((period, 1, variant or values))
            rows[register].append((period, 2, values))
        elif how == "resent":
            rows[register].append((period, 2, values))
        elif how == "rejected":
            rows[register].append((period, 1, values))

    def dropped(register: str, period: str, values: tuple) -> None:
        """A row only the superseded or rejected v1 had (a correction removed it)."""
        if plan[(register, period)] in ("corrected", "resent", "rejected"):
            rows[register].append((period, 1, values))

    # population: snapshot 2017-06 holds persons 0..109, 2018-01 persons 10..119 (0..9 keep
    # their 2017-06 row); some moved, some died on chosen days
    death_days = [date(2017, 3, 10), date(2017, 9, 1), date(2017, 9, 15), date(2017, 9, 30),
                  date(2018, 2, 28), date(2018, 7, 1), date(2018, 7, 31), date(2018, 9, 12)]
    for i, pid in enumerate(persons):
        # a few municipalities whose county is unknown (not 4 digits, not a listed county)
        muni = rnd.choice(counties) + "01" if rnd.random() < 0.9 else rnd.choice(["ABCD", "9999", "030", "03011"])
        death = death_days[i // 3] if i % 3 == 0 and i // 3 < len(death_days) else None
        if i < 110:
            rows["population"].append(("2017-06", 1, (pid, 1950 + i % 50, 1 + i % 2, muni,
                                                      death if death and death < date(2018, 1, 1) else None)))
        if i >= 10:
            rows["population"].append(("2018-01", 1, (pid, 1950 + i % 50, 1 + i % 2,
                                                      rnd.choice(counties) + "01" if i % 7 == 0 else muni, death)))

    everyone = persons + strangers
    n_cert = n_ep = n_dec = 0
    for pid in everyone:
        # sickness certificates, each start placed relative to the latest end so far
        latest = FIRST + timedelta(days=rnd.randrange(0, 200))
        start = latest
        for _ in range(rnd.randrange(0, 8)):
            start = _clamp(latest + timedelta(days=rnd.choice([-40, -3, 0, 1, *(SICK_LEAVE_CHAIN_GAP_DAYS + d for d in (-1, 0, 1, 2)), 60])))
            if rnd.random() < 0.1:
                start = _clamp(start - timedelta(days=rnd.randrange(0, 3)))
            end = start + timedelta(days=rnd.choice([0, 1, 5, 14, 30, 90, 200, -3]))
            latest = max(latest, end)
            n_cert += 1
            values = (f"C{n_cert:05d}", pid, start, end, rnd.choice([20, 50, 100]), rnd.choice(["ICPC2", "ICD10"]),
                      rnd.choice(["L03", "P76", "M545", "F32", None]))
            deliver("nav_sickleave", _period(start), values,
                    variant=values[:3] + (end + timedelta(days=9),) + values[4:] if rnd.random() < 0.5 else None)
            if rnd.random() < 0.05 and _month(start) > FIRST:  # start moved: the older state stays in
                earlier = _add_months(_month(start), -1)        # the earlier period's delivery
                deliver("nav_sickleave", _period(earlier), (values[0], pid, earlier, earlier) + values[4:])
            if rnd.random() < 0.05:
                dropped("nav_sickleave", _period(start), (f"CX{n_cert:05d}", pid, start, end + timedelta(days=30),
                                                          100, "ICPC2", "L03"))

        # NPR episodes at one to two trusts, starts placed relative to the latest end so far
        for trust in rnd.sample(trusts, rnd.choice([1, 1, 2])):
            latest = date(2017, 1, 1) + timedelta(days=rnd.randrange(0, 500))
            for _ in range(rnd.randrange(0, 5)):
                start = latest + timedelta(days=rnd.choice([0, 30, *(COURSE_CHAIN_GAP_DAYS + d for d in (-1, 0, 1, 2)), 200]))
                end = start + timedelta(days=rnd.choice([0, 0, 1, 3, 20, -2]))
                if not (FIRST <= _month(end) <= LAST):
                    continue
                latest = max(latest, end)
                n_ep += 1
                referral = rnd.choice([None, start - timedelta(days=rnd.randrange(0, 60)), start,
                                       start + timedelta(days=3)])
                unit = rnd.choice([u for u in units if u.startswith(trust + "-")] + [f"{trust}-OTHER", "OUS-HOA1"])
                # care level 9 is not in the care_levels code list (ignored for the course's level)
                values = (f"E{n_ep:05d}", pid, trust, unit, rnd.choice([1, 2, 3, 3, 9]), referral, start, end,
                          rnd.choice(DIAGNOSES), None, rnd.choice(PROCEDURES), rnd.choice([None, None, 10, 20, 1]))
                deliver("npr_episodes", _period(end), values,
                        variant=values[:8] + ("F321",) + values[9:] if rnd.random() < 0.5 else None)
                if rnd.random() < 0.05 and _month(end) > FIRST:  # end moved: the older state stays in
                    earlier = _add_months(_month(end), -1)         # the earlier period's delivery
                    deliver("npr_episodes", _period(earlier), values[:6] + (earlier, earlier) + values[8:])
                if rnd.random() < 0.1:  # a work-related episode a correction removed
                    dropped("npr_episodes", _period(end), (f"EX{n_ep:05d}", pid, trust, unit, 1, None, start, end,
                                                           "M545", None, "OABI00", 20))

        # AAP and disability decisions, redelivered in later periods with a changed end
        for register, share in (("nav_aap", 0.3), ("nav_disability", 0.15)):
            if rnd.random() > share:
                continue
            n_dec += 1
            start = date(2016, 6, 1) + timedelta(days=rnd.randrange(0, 850))
            period = max(_month(start), FIRST)
            for _ in range(rnd.choice([1, 2, 3])):
                if period > LAST:
                    break
                end = rnd.choice([None, start + timedelta(days=rnd.randrange(0, 400)), start - timedelta(days=1)])
                values = (f"{register[4]}{n_dec:04d}", pid, start, end) + ((100,) if register == "nav_disability" else ())
                deliver(register, _period(period), values)
                period = _add_months(period, rnd.randrange(1, 6))

    for pid in everyone:
        for m in months:
            if rnd.random() < 0.6:
                for employer in range(rnd.choice([1, 1, 2])):
                    deliver("aareg_employment", _period(m), (pid, f"EMP{employer}", m, rnd.choice([0.0, 0.0, 20.0, 100.0]),
                                                             30000))

    con = create_empty(path)
    try:
        statuses = {("population", "2017-06", 1): "accepted", ("population", "2018-01", 1): "accepted"}
        for (register, period), how in plan.items():
            statuses[(register, period, 1)] = {"ok": "accepted", "corrected": "superseded"}.get(how, "rejected")
            if how in ("corrected", "resent"):
                statuses[(register, period, 2)] = "accepted"
        con.executemany(
            "INSERT INTO audit.deliveries (delivery, register, period, version, status, schema_version) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            [[f"{r}_{p}_v{v}", r, p, v, s] for (r, p, v), s in statuses.items()],
        )
        for register, items in rows.items():
            numbered, counter = [], {}
            for period, version, values in items:
                delivery = f"{register}_{period}_v{version}"
                counter[delivery] = counter.get(delivery, 0) + 1
                numbered.append((*values, delivery, period, version, f"{register}.csv", counter[delivery], None))
            if numbered:
                marks = ", ".join("?" * len(numbered[0]))
                con.executemany(f"INSERT INTO raw.{register} VALUES ({marks})", numbered)
    finally:
        con.close()
    return Path(path)


if __name__ == "__main__":
    print(create(Path(sys.argv[1] if len(sys.argv) > 1 else "random.duckdb"), int(sys.argv[2]) if len(sys.argv) > 2 else 1))
