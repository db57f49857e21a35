-- The frame of the expectations suite public_marts (expectations/): per month, the rows of
-- the public marts that break a rule.
{%- set states = var('person_month_states') %}

with

dim_person as (
    select * from {{ ref('dim_person') }}
),

person_months as (
    select * from {{ ref('fct_person_month') }}
),

treatment_courses as (
    select * from {{ ref('fct_treatment_courses') }}
),

course_trajectories as (
    select * from {{ ref('fct_course_trajectories') }}
),

sick_leave_cases as (
    select * from {{ ref('fct_sick_leave_cases') }}
),

coding_quality as (
    select * from {{ ref('coding_quality_monthly') }}
),

measure_spells as (
    select * from {{ ref('fct_measure_spells') }}
),

primary_care_contacts as (
    select * from {{ ref('fct_primary_care_contacts') }}
),

persons as (
    select
        count(distinct person_id) as n,
        sum(distinct hash(person_id)) as h
    from dim_person
),

-- Fast path (no hash table over 85 M person-months at national scale): a month is right when
-- its row count and the sum of hash(person_id) equal those of dim_person and no state is
-- missing. Only months that fail it are counted exactly with DISTINCT (a wrong month passing
-- would need a missing and a repeated person with equal 64-bit hashes).
months as (
    select
        month,
        count(*) as n_rows,
        sum(hash(person_id)) as person_hash,
        count(*) filter (where state is null) as n_null_states,
        count(*) filter (
            where state not in (
                {% for state in states %}
                '{{ state }}'{% if not loop.last %},{% endif %}
                {% endfor %}
            )
        ) as n_states_outside_set
    from person_months
    group by month
),

suspect_months as (
    select months.month
    from months
    cross join persons
    where not (months.n_rows = persons.n and months.person_hash = persons.h and months.n_null_states = 0)
),

exact_months as (
    select
        person_months.month,
        count(*) as n_rows,
        count(distinct person_months.person_id) as n_distinct,
        count(distinct person_months.person_id) filter (where person_months.state is not null) as n_with_state
    from person_months
    where person_months.month in (select suspect_months.month from suspect_months)
    group by person_months.month
),

-- extra rows of persons with several; persons of dim_person without a state that month plus
-- those extra rows; states outside their set
person_month_counts as (
    select
        strftime(months.month, '%Y-%m') as period,
        coalesce(exact_months.n_rows - exact_months.n_distinct, 0) as n_duplicate_person_months,
        coalesce(
            greatest(persons.n - exact_months.n_with_state, 0) + (exact_months.n_rows - exact_months.n_distinct), 0
        ) as n_person_months_without_one_state,
        months.n_states_outside_set
    from months
    cross join persons
    left join exact_months on months.month = exact_months.month
),

{#- extra rows per period for a key that repeats (period of the key's earliest row) #}
{%- set duplicates = {
    'n_duplicate_course_ids': ('treatment_courses', 'course_id', 'course_start'),
    'n_duplicate_trajectory_keys': ('course_trajectories', 'course_id, month_offset', 'month'),
    'n_duplicate_case_ids': ('sick_leave_cases', 'case_id', 'case_start'),
    'n_duplicate_coding_quality_keys': ('coding_quality', 'health_trust, month', 'month'),
    'n_duplicate_spell_ids': ('measure_spells', 'spell_id', 'start_date'),
    'n_duplicate_contact_ids': ('primary_care_contacts', 'contact_id', 'contact_date'),
} %}
{% for column, (relation, key, period_column) in duplicates.items() %}
{{ column }} as (
    select
        strftime(repeated.first_at, '%Y-%m') as period,
        sum(repeated.n - 1) as value
    from (
        select
            {{ key }},
            min({{ period_column }}) as first_at,
            count(*) as n
        from {{ relation }}
        group by {{ key }}
        having count(*) > 1
    ) as repeated
    group by strftime(repeated.first_at, '%Y-%m')
),
{% endfor %}

n_duplicate_person_ids as (
    select
        repeated.first_at as period,
        sum(repeated.n - 1) as value
    from (
        select
            person_id,
            min(snapshot_period) as first_at,
            count(*) as n
        from dim_person
        group by person_id
        having count(*) > 1
    ) as repeated
    group by repeated.first_at
),

n_course_end_before_start as (
    select
        strftime(course_start, '%Y-%m') as period,
        count(*) as value
    from treatment_courses
    where course_end < course_start
    group by strftime(course_start, '%Y-%m')
),

n_shares_outside_unit_interval as (
    select
        strftime(month, '%Y-%m') as period,
        count(*) as value
    from coding_quality
    where
    {% for rate in var('coding_quality_rates') %}
        {{ rate.name }} not between 0 and 1{% if not loop.last %} or{% endif %}
    {% endfor %}
    group by strftime(month, '%Y-%m')
),

{%- set metrics = ['n_duplicate_course_ids', 'n_duplicate_trajectory_keys', 'n_duplicate_case_ids',
                   'n_duplicate_person_ids', 'n_duplicate_coding_quality_keys', 'n_duplicate_spell_ids',
                   'n_duplicate_contact_ids', 'n_course_end_before_start',
                   'n_shares_outside_unit_interval'] %}

periods as (
    select person_month_counts.period from person_month_counts
    {% for metric in metrics %}
    union
    select {{ metric }}.period from {{ metric }}
    {% endfor %}
),

final as (
    select
        periods.period,
        cast(coalesce(person_month_counts.n_duplicate_person_months, 0) as bigint) as n_duplicate_person_months,
        cast(coalesce(person_month_counts.n_person_months_without_one_state, 0) as bigint)
            as n_person_months_without_one_state,
        cast(coalesce(person_month_counts.n_states_outside_set, 0) as bigint) as n_states_outside_set,
        {% for metric in metrics %}
        cast(coalesce({{ metric }}.value, 0) as bigint) as {{ metric }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from periods
    left join person_month_counts on periods.period = person_month_counts.period
    {% for metric in metrics %}
    left join {{ metric }} on periods.period = {{ metric }}.period
    {% endfor %}
)

select * from final
