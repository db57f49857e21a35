-- Each course of a person in the population register has one trajectory row for every offset
-- of the window (vars trajectory_first_offset..trajectory_last_offset) whose month lies in
-- first_month..horizon_month, and no other. Returns the courses whose row count differs.
with

courses as (
    select * from {{ ref('fct_treatment_courses') }}
),

persons as (
    select person_id from {{ ref('dim_person') }}
),

spine as (
    select * from {{ ref('int_months_spined') }}
),

trajectories as (
    select * from {{ ref('fct_course_trajectories') }}
),

expected as (
    select courses.course_id, count(spine.month) as n_expected
    from courses
    inner join persons on courses.person_id = persons.person_id
    left join spine
        on spine.month between
        cast(date_trunc('month', courses.course_start) + to_months({{ var('trajectory_first_offset') }}) as date)
        and cast(date_trunc('month', courses.course_start) + to_months({{ var('trajectory_last_offset') }}) as date)
    group by courses.course_id
),

actual as (
    select course_id, count(*) as n_actual
    from trajectories
    group by course_id
)

select
    coalesce(expected.course_id, actual.course_id) as course_id,
    coalesce(expected.n_expected, 0) as n_expected,
    coalesce(actual.n_actual, 0) as n_actual
from expected
full outer join actual on expected.course_id = actual.course_id
where coalesce(expected.n_expected, 0) <> coalesce(actual.n_actual, 0)
