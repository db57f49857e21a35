"""A synthetic warehouse at national scale for timing the dbt build (not a pytest test).

``python tests/dbt/scale_warehouse.py 3500000 /tmp/scale.duckdb`` writes N persons over 96
months (2016-01..2023-12, all five monthly registers accepted): 70 % employed every month,
~5 sickness certificates per person, AAP for 5 %, disability for 3 %, deaths for 1 %, three
work-related episodes for 2 %. Then time ``dbt build`` with WORKHEALTH_WAREHOUSE pointing at
it. Figures measured with it are in docs/definitions.md (section 1).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb

from fixture_warehouse import create

MONTHS = "(select unnest(generate_series(date '2016-01-01', date '2023-12-01', interval 1 month))::date m)"


def build(n: int, path: Path) -> None:
    create(path)  # schemas and tables (the hand-written rows are replaced below)
    c = duckdb.connect(str(path))
    c.execute("set memory_limit='8GB'; set threads=2; set preserve_insertion_order=false")
    for table in ("population", "npr_episodes", "nav_sickleave", "nav_aap", "nav_disability",
                  "aareg_employment"):
        c.execute(f"delete from raw.{table}")
    c.execute("delete from audit.deliveries")
    c.execute(f"""insert into audit.deliveries (delivery, register, period, version, status)
        select r || '_' || strftime(m, '%Y-%m') || '_v1', r, strftime(m, '%Y-%m'), 1, 'accepted'
        from (values ('npr_episodes'), ('nav_sickleave'), ('nav_aap'), ('nav_disability'),
                     ('aareg_employment')) t(r), {MONTHS}
        union all select 'population_2016-01_v1', 'population', '2016-01', 1, 'accepted'""")
    c.execute(f"""insert into raw.population select printf('%016x', i), 1950 + i % 50, 1 + i % 2, '0301',
        case when i % 100 = 0 then date '2016-01-01' + (i % 2900)::int end,
        'population_2016-01_v1', '2016-01', 1, 'f', i, null from range({n}) t(i)""")
    c.execute(f"""insert into raw.aareg_employment select printf('%016x', i), 'E' || (i % 1000), m, 100.0, 30000,
        'aareg_employment_' || strftime(m, '%Y-%m') || '_v1', strftime(m, '%Y-%m'), 1, 'f', i, null
        from range({n}) t(i), {MONTHS} where i % 10 < 7""")
    c.execute(f"""insert into raw.nav_sickleave
        select 'C' || i || '-' || k, printf('%016x', i), s, s + ((i * 7 + k) % 60)::int, 100, 'ICPC2', 'L03',
        'nav_sickleave_' || strftime(s, '%Y-%m') || '_v1', strftime(s, '%Y-%m'), 1, 'f', i, null
        from (select i, k, date '2016-01-01' + ((i * 31 + k * 97) % 2900)::int as s
              from range({n}) t(i), range(16) u(k) where (i + k) % 3 = 0)""")
    c.execute(f"""insert into raw.nav_aap select 'A' || i, printf('%016x', i), s, case when i % 2 = 0 then s + 400 end,
        'nav_aap_' || strftime(s, '%Y-%m') || '_v1', strftime(s, '%Y-%m'), 1, 'f', i, null
        from (select i, date '2016-01-01' + (i % 2800)::int as s from range({n}) t(i) where i % 20 = 0)""")
    c.execute(f"""insert into raw.nav_disability select 'U' || i, printf('%016x', i), s, null, 100,
        'nav_disability_' || strftime(s, '%Y-%m') || '_v1', strftime(s, '%Y-%m'), 1, 'f', i, null
        from (select i, date '2016-01-01' + (i % 2800)::int as s from range({n}) t(i) where i % 33 = 0)""")
    c.execute(f"""insert into raw.npr_episodes select 'E' || i || '-' || k, printf('%016x', i), 'AHUS', 'AHUS-HOA1', 3,
        s - 30, s, s + 1, 'M545', null, 'OABI00', null,
        'npr_episodes_' || strftime(s + 1, '%Y-%m') || '_v1', strftime(s + 1, '%Y-%m'), 1, 'f', i, null
        from (select i, k, date '2016-01-01' + ((i * 13 + k * 40) % 2800)::int as s
              from range({n}) t(i), range(3) u(k) where i % 50 = 0)""")
    c.close()


if __name__ == "__main__":
    started = time.time()
    build(int(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote {sys.argv[2]} in {time.time() - started:.0f} s")
