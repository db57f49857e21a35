with

certificates as (
    select * from {{ ref('stg_nav_sickleave__certificates') }}
),

horizon as (
    select * from {{ ref('int_data_horizons_computed') }}
    where horizon_month is not null
),

-- The marts describe the registers as known up to the horizon: certificates starting after
-- the horizon month are left for later releases.
in_scope as (
    select certificates.*
    from certificates
    cross join horizon
    where certificates.start_date < horizon.horizon_month + interval 1 month
),

-- Gaps and islands with a running max: a certificate joins the current case when its
-- start_date is at most 16 days after the latest end_date seen so far (not the previous
-- row's end_date). The running max over all earlier certificates of the person equals the
-- case's own running max, since a new case only opens after every earlier end_date.
running as (
    select
        *,
        max(end_date) over (
            partition by person_id
            order by start_date, certificate_id
            rows between unbounded preceding and 1 preceding
        ) as running_max_end_before
    from in_scope
),

flagged as (
    select
        *,
        case
            when running_max_end_before is null then 1
            when start_date > running_max_end_before + 16 then 1
            else 0
        end as opens_case
    from running
),

numbered as (
    select
        *,
        sum(opens_case) over case_order as case_number,
        -- the last opener seen so far is the first row of the current case; same window as
        -- the running sum, so no extra sort
        last_value(case when opens_case = 1 then certificate_id end ignore nulls) over case_order as case_id
    from flagged
    window case_order as (
        partition by person_id
        order by start_date, certificate_id
        rows between unbounded preceding and current row
    )
),

-- case_id: the certificate_id of the case's first certificate (earliest start_date, ties by
-- certificate_id); deterministic and traceable to the register.
identified as (
    select
        certificate_id,
        person_id,
        start_date,
        end_date,
        grade,
        diagnosis_system,
        diagnosis_code,
        cast(case_number as integer) as case_number,
        case_id,
        opens_case = 1 as is_first_certificate
    from numbered
)

select * from identified
