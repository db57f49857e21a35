with

courses as (
    select course_id, person_id, course_start from {{ ref('fct_treatment_courses') }}
),

person_months as (
    select * from {{ ref('fct_person_month') }}
),

-- the trajectory window around the course start (vars in dbt_project.yml)
offsets as (
    select cast(generate_series as integer) as month_offset
    from generate_series({{ var('trajectory_first_offset') }}, {{ var('trajectory_last_offset') }})
),

targets as (
    select
        courses.course_id,
        courses.person_id,
        offsets.month_offset,
        cast(date_trunc('month', courses.course_start) + to_months(offsets.month_offset) as date) as month
    from courses
    cross join offsets
),

-- fct_person_month holds exactly the months from first_month to the horizon, so the inner
-- join keeps only offsets whose month lies in that range
final as (
    select
        targets.course_id,
        targets.month_offset,
        targets.month,
        person_months.state
    from targets
    inner join person_months
        on targets.person_id = person_months.person_id
        and targets.month = person_months.month
)

select * from final
