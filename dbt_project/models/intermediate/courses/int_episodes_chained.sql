with

episodes as (
    select * from {{ ref('int_episodes_classified') }}
),

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
    where horizon_month is not null
),

-- Courses describe the registers as known up to the horizon: work-related episodes ending
-- in a month after the horizon are left for later releases.
work_related as (
    select episodes.*
    from episodes
    cross join horizon
    where episodes.is_work_related
      and episodes.end_date < horizon.horizon_month + interval 1 month
),

-- Gaps and islands per person AND health trust with a running max: an episode joins the
-- current course when its start_date is at most 90 days after the latest end_date seen so
-- far in the course.
running as (
    select
        *,
        max(end_date) over (
            partition by person_id, health_trust
            order by start_date, episode_id
            rows between unbounded preceding and 1 preceding
        ) as running_max_end_before
    from work_related
),

flagged as (
    select
        *,
        case
            when running_max_end_before is null then 1
            when start_date > running_max_end_before + 90 then 1
            else 0
        end as opens_course
    from running
),

numbered as (
    select
        *,
        sum(opens_course) over course_order as course_number,
        -- the last opener seen so far is the first row of the current course; same window as
        -- the running sum, so no extra sort
        last_value(case when opens_course = 1 then episode_id end ignore nulls) over course_order as course_id
    from flagged
    window course_order as (
        partition by person_id, health_trust
        order by start_date, episode_id
        rows between unbounded preceding and current row
    )
),

-- course_id: the episode_id of the course's first episode (earliest start_date, ties by
-- episode_id).
identified as (
    select
        episode_id,
        person_id,
        health_trust,
        rhf,
        unit_id,
        care_level,
        referral_date,
        start_date,
        end_date,
        main_diagnosis,
        diagnosis_group,
        procedure_codes,
        debitor,
        cast(course_number as integer) as course_number,
        course_id,
        opens_course = 1 as is_first_episode
    from numbered
)

select * from identified
