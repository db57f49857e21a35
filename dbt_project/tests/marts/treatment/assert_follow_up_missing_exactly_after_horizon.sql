-- A course's state_k is missing exactly when month(course_end) + k lies after the horizon (or
-- the person has no person-months because they are not in the population register), and
-- rtw_k / hrb_12m are missing exactly when their state is. Returns the offending courses.
with

courses as (
    select * from {{ ref('fct_treatment_courses') }}
),

persons as (
    select person_id from {{ ref('dim_person') }}
),

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
),

follow_up as (
    {%- for k in var('follow_up_months') %}
    select
        courses.course_id,
        {{ k }} as k,
        courses.state_{{ k }}m as state,
        courses.rtw_{{ k }}m as rtw,
        {{ 'courses.hrb_12m' if k == 12 else 'cast(null as boolean)' }} as hrb,
        (
            cast(date_trunc('month', courses.course_end) + interval {{ k }} month as date) <= horizon.horizon_month
            and persons.person_id is not null
        ) as is_known
    from courses
    cross join horizon
    left join persons on courses.person_id = persons.person_id
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select * from follow_up
where (state is not null) <> is_known
    or (rtw is not null) <> is_known
    or (k = 12 and (hrb is not null) <> is_known)
