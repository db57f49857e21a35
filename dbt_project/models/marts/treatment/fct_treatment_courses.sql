{#- Follow-up at var('follow_up_months') months after the course end: state_<k>m and
    rtw_<k>m per k. The health-related-benefit flag is defined at one of them only
    (var('hrb_follow_up_month'): hrb_<k>m). -#}
{%- set follow_up_months = var('follow_up_months') -%}
{%- set hrb_months = var('hrb_follow_up_month') -%}
{%- if hrb_months not in follow_up_months -%}
    {{ exceptions.raise_compiler_error("var hrb_follow_up_month must be one of follow_up_months") }}
{%- endif -%}
with

episodes as (
    select * from {{ ref('int_episodes_chained') }}
),

sick_leave_cases as (
    select * from {{ ref('fct_sick_leave_cases') }}
),

person_months as (
    select * from {{ ref('fct_person_month') }}
),

persons as (
    select * from {{ ref('dim_person') }}
),

age_groups as (
    select * from {{ ref('age_groups') }}
),

cooperation as (
    select * from {{ ref('int_courses_cooperation_flagged') }}
),

courses as (
    select
        course_id,
        person_id,
        health_trust,
        any_value(rhf) as rhf,
        min(start_date) as course_start,
        max(end_date) as course_end,
        count(*) as n_episodes,
        -- the most intensive care level: the lowest intensity_rank of the care_levels code list
        -- (1 døgn > 2 dag > 3 poliklinisk); codes not in the list are ignored, so a course
        -- with none listed has no care level
        arg_min(care_level, care_level_intensity_rank) filter (
            where care_level_intensity_rank is not null
        ) as care_level
    from episodes
    group by course_id, person_id, health_trust
),

-- main diagnosis, group and referral come from the first episode (earliest start_date, ties
-- by episode_id), whose start_date is course_start
first_episodes as (
    select
        course_id,
        main_diagnosis,
        diagnosis_group,
        referral_date,
        case
            when referral_date is not null and referral_date <= start_date
                then start_date - referral_date
        end as waiting_days
    from episodes
    where is_first_episode
),

-- sick-leave cases of one person never overlap, so at most one covers course_start; a gap
-- between certificates inside the case still counts as covered
sick_leave_at_start as (
    select
        courses.course_id,
        sick_leave_cases.case_id,
        sick_leave_cases.case_start
    from courses
    inner join sick_leave_cases
        on courses.person_id = sick_leave_cases.person_id
        and courses.course_start between sick_leave_cases.case_start and sick_leave_cases.case_end
),

follow_up_targets as (
    select
        courses.course_id,
        courses.person_id,
        offsets.k,
        cast(date_trunc('month', courses.course_end) + to_months(offsets.k) as date) as month
    from courses
    cross join (values ({{ follow_up_months | join('), (') }})) as offsets (k)
),

-- fct_person_month only has months up to the horizon, so a follow-up month after the
-- horizon finds no row and its state stays missing
follow_up_states as (
    select
        {%- for k in follow_up_months %}
        max(case when follow_up_targets.k = {{ k }} then person_months.state end) as state_{{ k }}m,
        {%- endfor %}
        follow_up_targets.course_id
    from follow_up_targets
    inner join person_months
        on follow_up_targets.person_id = person_months.person_id
        and follow_up_targets.month = person_months.month
    group by follow_up_targets.course_id
),

-- age = year(course_start) - birth_year; missing when the person is not in the population
-- register or the age lies in no band of the age_groups code list (under 16)
course_age_groups as (
    select
        courses.course_id,
        age_groups.age_group
    from courses
    inner join persons on courses.person_id = persons.person_id
    inner join age_groups
        on year(courses.course_start) - persons.birth_year >= age_groups.min_age
        and (age_groups.max_age is null or year(courses.course_start) - persons.birth_year <= age_groups.max_age)
),

final as (
    select
        courses.course_id,
        courses.person_id,
        courses.health_trust,
        courses.rhf,
        courses.course_start,
        courses.course_end,
        cast(courses.n_episodes as integer) as n_episodes,
        cast(courses.care_level as integer) as care_level,
        course_age_groups.age_group,
        first_episodes.main_diagnosis,
        first_episodes.diagnosis_group,
        case
            when courses.course_start < date '{{ var("era_change_date") }}' then 'RASKERE_TILBAKE'
            else 'HELSE_OG_ARBEID'
        end as era,
        first_episodes.referral_date,
        cast(first_episodes.waiting_days as integer) as waiting_days,
        sick_leave_at_start.case_id is not null as on_sick_leave_at_start,
        cast(courses.course_start - sick_leave_at_start.case_start as integer) as sick_leave_days_at_start,
        sick_leave_at_start.case_id as sick_leave_case_id,
        {%- for k in follow_up_months %}
        follow_up_states.state_{{ k }}m,
        {%- endfor %}
        {%- for k in follow_up_months %}
        follow_up_states.state_{{ k }}m = 'WORK' as rtw_{{ k }}m,
        {%- endfor %}
        follow_up_states.state_{{ hrb_months }}m in ('UFOR', 'AAP', 'SYK') as hrb_{{ hrb_months }}m,
        cooperation.nav_measure_6m,
        cooperation.ips_12m,
        cooperation.gp_before_3m,
        cooperation.gp_after_3m,
        cooperation.municipal_mental_health_after_3m
    from courses
    inner join first_episodes on courses.course_id = first_episodes.course_id
    left join sick_leave_at_start on courses.course_id = sick_leave_at_start.course_id
    left join follow_up_states on courses.course_id = follow_up_states.course_id
    left join course_age_groups on courses.course_id = course_age_groups.course_id
    left join cooperation on courses.course_id = cooperation.course_id
)

select * from final
