with

certificates as (
    select * from {{ ref('int_certificates_chained') }}
),

icd10_categories as (
    select * from {{ ref('icd10_categories') }}
),

icpc2_codes as (
    select * from {{ ref('icpc2_codes') }}
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

-- the case's diagnosis is its first certificate's (earliest start_date, ties by certificate_id),
-- its group judged in the code's own system (ICPC-2 from GPs, ICD-10 from hospitals), as for
-- KPR contacts
first_certificates as (
    select
        certificates.case_id,
        certificates.diagnosis_system,
        certificates.diagnosis_code,
        {{ diagnosis_group(
            'certificates.diagnosis_code',
            'icpc2_codes.code is not null or icd10_categories.category is not null',
            'certificates.diagnosis_system'
        ) }} as diagnosis_group
    from certificates
    {{ diagnosis_code_lookups('certificates') }}
    where certificates.is_first_certificate
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
        first_certificates.diagnosis_group,
        cast(cases.case_end - cases.case_start + 1 as integer) as case_days
    from cases
    inner join first_certificates on cases.case_id = first_certificates.case_id
)

select * from final
