with

certificates as (
    select * from {{ ref('int_certificates_chained') }}
),

cases as (
    select
        case_id,
        person_id,
        min(start_date) as case_start,
        max(end_date) as case_end,
        count(*) as n_certificates
    from certificates
    group by case_id, person_id
),

-- the case's diagnosis is its first certificate's (earliest start_date, ties by certificate_id)
first_certificates as (
    select case_id, diagnosis_system, diagnosis_code
    from certificates
    where is_first_certificate
),

final as (
    select
        cases.case_id,
        cases.person_id,
        cases.case_start,
        cases.case_end,
        cast(cases.n_certificates as integer) as n_certificates,
        first_certificates.diagnosis_system,
        first_certificates.diagnosis_code,
        cast(cases.case_end - cases.case_start + 1 as integer) as case_days
    from cases
    inner join first_certificates on cases.case_id = first_certificates.case_id
)

select * from final
