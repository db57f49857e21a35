{{ config(materialized='view') }}

-- A view: the flags are cheap projections, read by coding_quality_monthly (one aggregation)
-- and by the quality gate's sample rows (one month at a time).
with

episodes as (
    select * from {{ ref('int_episodes_classified') }}
),

-- The per-episode coding-quality conditions, each written once as a flag (never null):
-- coding_quality_monthly counts them, the quality gate samples the episodes behind a count.
flagged as (
    select
        *,
        not is_main_diagnosis_valid as is_main_diagnosis_invalid,
        referral_date is null as is_referral_missing,
        coalesce(referral_date > start_date, false) as is_referral_after_start,
        coalesce(end_date < start_date, false) as is_end_before_start,
        is_at_work_unit and not is_work_related as is_work_unit_not_work_related,
        -- code-list defects (docs/definitions.md#coding-quality)
        not coalesce(is_health_trust_listed, false) as is_health_trust_unknown,
        care_level_intensity_rank is null as is_care_level_unknown,
        not coalesce(is_unit_of_trust, false) as is_unit_unknown
    from episodes
)

select * from flagged
