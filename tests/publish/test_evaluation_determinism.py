"""The evaluation is deterministic: evaluating the same warehouse again gives the same cohort and
the same numbers, to the last bit (the bootstrap and the matching's ties draw from fixed seeds).

On the publishing warehouse (conftest.py: small, evaluated once): a second evaluation of the
evaluation's own large warehouse (tests/evaluate) costs a minute on the 2-core CI machine.
"""

from __future__ import annotations

import duckdb
import pytest

from shared_fixtures import settings_for

pytestmark = pytest.mark.slow

EFFECTS = "select * from evaluation.effects order by intervention, subgroup_dim, subgroup_value, outcome, k"
COHORT = "select count(*), sum(weight), sum(set_id), sum(hash(person_id)) from marts.fct_evaluation_cohort"


def test_same_input_same_numbers(own_warehouse):
    from workhealth.evaluate import evaluate

    s = settings_for(own_warehouse)
    with duckdb.connect(str(s.warehouse), read_only=True) as c:
        before, cohort_before = c.sql(EFFECTS).df(), c.sql(COHORT).fetchall()
    assert len(before) and cohort_before[0][0] > 0, "the warehouse has a cohort and effects to compare"
    evaluate(s)
    with duckdb.connect(str(s.warehouse), read_only=True) as c:
        after, cohort_after = c.sql(EFFECTS).df(), c.sql(COHORT).fetchall()
    assert before.equals(after)
    assert cohort_before == cohort_after
