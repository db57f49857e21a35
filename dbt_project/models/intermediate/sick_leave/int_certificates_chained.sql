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

-- Gaps and islands with a running max (macro chain_by_running_max_end): a certificate joins
-- the current case when its start_date is at most var('sick_leave_chain_gap_days') days after
-- the latest end_date seen so far (not the previous row's end_date).
numbered as (
    {{ chain_by_running_max_end(
        'in_scope',
        partition_by=['person_id'],
        id_column='certificate_id',
        gap_days=var('sick_leave_chain_gap_days'),
        chain='case'
    ) }}
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
