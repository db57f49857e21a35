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

-- Gaps and islands per person AND health trust with a running max (macro
-- chain_by_running_max_end): an episode joins the current course when its start_date is at
-- most var('course_chain_gap_days') days after the latest end_date seen so far in the course.
numbered as (
    {{ chain_by_running_max_end(
        'work_related',
        partition_by=['person_id', 'health_trust'],
        id_column='episode_id',
        gap_days=var('course_chain_gap_days'),
        chain='course'
    ) }}
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
        care_level_intensity_rank,
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
