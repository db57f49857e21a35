{#- The courses table before disclosure control: courses by year of course_start, the
    geography rollup and every combination of the categories (cube), totals as 'all'. -#}

with

courses as (
    select
        person_id,
        {{ publication_course_categories() }},
        course_start,
        on_sick_leave_at_start,
        sick_leave_days_at_start,
        waiting_days
    from {{ ref('fct_treatment_courses') }}
),

final as (
    select
        {{ publication_course_dimensions('course_start') }},
        count(*) as n_courses,
        count(distinct person_id) as n_patients,
        -- on_sick_leave_at_start is never null, so its units are all courses
        {{ publication_ratio('on_sick_leave_at_start', 'share_on_sick_leave_at_start') }},
        median(sick_leave_days_at_start) as median_sick_leave_days_at_start,
        count(sick_leave_days_at_start) as _units_median_sick_leave_days_at_start,
        median(waiting_days) as median_waiting_days,
        count(waiting_days) as _units_median_waiting_days
    from courses
    group by {{ publication_course_grouping('course_start') }}
)

select * from final
